"""The LAION improved aesthetic predictor: an MLP over L2-normalised CLIP image embeddings.

Upstream: github.com/christophschuhmann/improved-aesthetic-predictor. Its weights
(``sac+logos+ava1-l14-linearMSE.pth``, a plain state dict) were trained on
OpenAI CLIP ViT-L/14 image embeddings (768-d); the Hub mirror
``camenduru/improved-aesthetic-predictor`` holds the same file at its root.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import ScorerLoadError

__all__ = ["AestheticPredictor", "load_aesthetic_predictor", "resolve_head_file"]

# owner/name as the Hub spells repo ids: one slash, no leading dot or slash.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# The upstream layer sizes after the input; layers 1, 3 and 5 are Dropouts (no weights).
_HIDDEN = (1024, 128, 64, 16, 1)
_LINEAR_INDICES = (0, 2, 4, 6, 7)


class AestheticPredictor(nn.Module):
    """The upstream MLP, layer for layer, so its state dict keys (``layers.N.*``) load as is.

    There are no activations between the linear layers: upstream trained it that way
    (the ReLUs are commented out), so the model is affine in its input. The score is
    roughly on AVA's 1-10 scale: about 5 for ordinary photos, 6.5+ for striking ones.
    """

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.layers = nn.Sequential(
            nn.Linear(input_dim, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """Score raw CLIP image embeddings of shape (..., input_dim); returns shape (...)."""
        normalised = torch.nn.functional.normalize(embedding.float(), p=2.0, dim=-1)
        result: torch.Tensor = self.layers(normalised).squeeze(-1)
        return result


def resolve_head_file(head: str, file_name: str) -> Path:
    """Find the weights file: ``head`` as a local file, a local folder, or a Hub repo id.

    A repo id is fetched with ``huggingface_hub.hf_hub_download`` (which honours
    ``HF_HOME`` and ``HF_HUB_OFFLINE``). Raises ``ScorerLoadError`` naming ``head``.
    """
    path = Path(head).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        candidate = path / file_name
        if not candidate.is_file():
            raise ScorerLoadError(head, f"folder has no {file_name!r}")
        return candidate
    if not _REPO_ID.match(head):
        raise ScorerLoadError(head, "no such file or folder, and not a Hub repo id (owner/name)")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=head, filename=file_name))
    except Exception as exc:  # network, auth, missing file, offline cache miss, ...
        raise ScorerLoadError(
            head, f"cannot fetch {file_name!r} from the Hub: {type(exc).__name__}: {exc}"
        ) from exc


def load_aesthetic_predictor(
    head: str,
    file_name: str,
    *,
    expected_dim: int | None = None,
    device: str | torch.device = "cpu",
) -> AestheticPredictor:
    """Load the MLP weights (``torch.load(weights_only=True)``) into an eval-mode predictor.

    ``expected_dim`` is the CLIP model's projection size; a head trained on another
    embedding size is refused with a ``ScorerLoadError`` rather than failing mid-run.
    """
    weights_path = resolve_head_file(head, file_name)
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, pickle with code, not a torch file, ...
        raise ScorerLoadError(
            head, f"{weights_path} is not a loadable torch state dict: {exc}"
        ) from exc
    if not isinstance(state, dict):
        raise ScorerLoadError(head, f"{weights_path} holds a {type(state).__name__}, not a dict")
    # Some checkpoints wrap the dict ({"state_dict": ...}) or prefix keys ("model.layers.0...").
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {_strip_prefix(str(key)): value for key, value in state.items()}
    expected = {f"layers.{i}.{part}" for i in _LINEAR_INDICES for part in ("weight", "bias")}
    missing = sorted(expected - state.keys())
    if missing:
        raise ScorerLoadError(
            head, f"{weights_path} lacks the aesthetic MLP keys {missing} (found {sorted(state)})"
        )
    first = state["layers.0.weight"]
    if not isinstance(first, torch.Tensor) or first.ndim != 2:
        raise ScorerLoadError(head, f"{weights_path}: layers.0.weight is not a 2-D tensor")
    input_dim = int(first.shape[1])
    if expected_dim is not None and input_dim != expected_dim:
        raise ScorerLoadError(
            head,
            f"the head expects {input_dim}-d CLIP embeddings but the CLIP model gives "
            f"{expected_dim}-d ones (the upstream head needs ViT-L/14)",
        )
    predictor = AestheticPredictor(input_dim)
    try:
        predictor.load_state_dict({key: state[key] for key in expected})
    except RuntimeError as exc:  # shape mismatch in a hidden layer
        raise ScorerLoadError(head, f"{weights_path}: {exc}") from exc
    try:
        return predictor.to(torch.device(device)).eval()
    except (RuntimeError, AssertionError) as exc:  # no such device, out of memory
        raise ScorerLoadError(head, f"cannot move it to {device!r}: {exc}") from exc


def _strip_prefix(key: str) -> str:
    index = key.find("layers.")
    return key[index:] if index > 0 else key
