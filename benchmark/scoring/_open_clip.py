"""open_clip checkpoints (HPS v2.1) loaded into a transformers ``CLIPModel``.

HPS v2.1 is open_clip's ViT-H-14 fine-tuned on human preferences; its checkpoint
is an open_clip state dict. open_clip's ViT layout is OpenAI CLIP's (fused q/k/v
projections, ``c_fc``/``c_proj`` MLPs, projection matrices applied as ``x @ proj``),
and transformers' ``CLIPModel`` computes the same function (LAION's own hub copy
of ViT-H-14 is this very conversion), so the weights are renamed and split here
and loaded into a ``CLIPModel`` built from the ViT-H-14 ``CLIPConfig``. Why not
open_clip itself: it imports torchvision, whose only build for our torch pin is a
CUDA one that cannot load beside the CPU torch (docs/benchmark-scoring-and-reports.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from benchmark.errors import ScorerLoadError

__all__ = ["load_open_clip_checkpoint", "open_clip_to_transformers"]

_BLOCK = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "attn.out_proj": "self_attn.out_proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}
# Buffers and bookkeeping that carry no weights.
_IGNORED = ("attn_mask", "logit_bias")


def _tower(
    state: Mapping[str, torch.Tensor], prefix: str, target: str, layers: int
) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for i in range(layers):
        src, dst = f"{prefix}transformer.resblocks.{i}.", f"{target}.encoder.layers.{i}."
        q, k, v = state[src + "attn.in_proj_weight"].chunk(3, dim=0)
        qb, kb, vb = state[src + "attn.in_proj_bias"].chunk(3, dim=0)
        for name, weight, bias in (("q", q, qb), ("k", k, kb), ("v", v, vb)):
            out[f"{dst}self_attn.{name}_proj.weight"] = weight
            out[f"{dst}self_attn.{name}_proj.bias"] = bias
        for old, new in _BLOCK.items():
            for part in ("weight", "bias"):
                out[f"{dst}{new}.{part}"] = state[f"{src}{old}.{part}"]
    return out


def open_clip_to_transformers(
    state: Mapping[str, torch.Tensor], *, vision_layers: int, text_layers: int
) -> dict[str, torch.Tensor]:
    """Rename (and split) an open_clip ViT state dict into ``CLIPModel``'s keys.

    Raises ``KeyError`` naming the first open_clip key the state lacks.
    """
    s = state
    out = {
        "vision_model.embeddings.class_embedding": s["visual.class_embedding"],
        "vision_model.embeddings.position_embedding.weight": s["visual.positional_embedding"],
        "vision_model.embeddings.patch_embedding.weight": s["visual.conv1.weight"],
        "vision_model.pre_layrnorm.weight": s["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": s["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": s["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": s["visual.ln_post.bias"],
        "visual_projection.weight": s["visual.proj"].t().contiguous(),
        "text_model.embeddings.token_embedding.weight": s["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": s["positional_embedding"],
        "text_model.final_layer_norm.weight": s["ln_final.weight"],
        "text_model.final_layer_norm.bias": s["ln_final.bias"],
        "text_projection.weight": s["text_projection"].t().contiguous(),
        "logit_scale": s["logit_scale"].reshape(()),
    }
    out.update(_tower(s, "visual.", "vision_model", vision_layers))
    out.update(_tower(s, "", "text_model", text_layers))
    return out


def _read_state(path: Any, source: str) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, pickle with code, not a torch file, ...
        raise ScorerLoadError(source, f"{path} is not a loadable torch checkpoint: {exc}") from exc
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # open_clip's training checkpoints wrap it
    if not isinstance(loaded, dict):
        raise ScorerLoadError(source, f"{path} holds a {type(loaded).__name__}, not a state dict")
    # DistributedDataParallel saves "module."-prefixed keys; the compressed file may be fp16.
    return {
        str(k).removeprefix("module."): v.float()
        for k, v in loaded.items()
        if isinstance(v, torch.Tensor) and not str(k).endswith(_IGNORED)
    }


def _layers(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    numbers = {k[len(prefix) :].split(".", 1)[0] for k in state if k.startswith(prefix)}
    return len(numbers)


def load_open_clip_checkpoint(architecture: str, checkpoint: str, file_name: str) -> Any:
    """A ``CLIPModel`` of ``architecture``'s config holding the open_clip ``checkpoint``.

    ``checkpoint`` is a hub repo id, a folder or a file (``resolve_head_file``).
    Raises ``ScorerLoadError`` naming the source and the reason: a missing or extra
    weight, a shape that does not fit the architecture.
    """
    from transformers import CLIPConfig, CLIPModel

    from benchmark.scoring._aesthetic import resolve_head_file

    try:
        config: Any = CLIPConfig.from_pretrained(architecture)
    except Exception as exc:  # transformers raises OSError, ValueError, ...
        raise ScorerLoadError(architecture, f"{type(exc).__name__}: {exc}") from exc
    path = resolve_head_file(checkpoint, file_name)
    state = _read_state(path, checkpoint)
    for prefix, want in (("visual.", config.vision_config.num_hidden_layers),
                         ("", config.text_config.num_hidden_layers)):  # fmt: skip
        have = _layers(state, f"{prefix}transformer.resblocks.")
        if have != want:
            raise ScorerLoadError(
                checkpoint, f"{path} has {have} {prefix or 'text.'}transformer layers, "
                f"{architecture} has {want}"
            )  # fmt: skip
    try:
        converted = open_clip_to_transformers(
            state,
            vision_layers=config.vision_config.num_hidden_layers,
            text_layers=config.text_config.num_hidden_layers,
        )
    except KeyError as exc:
        raise ScorerLoadError(
            checkpoint, f"{path} is not an open_clip ViT checkpoint of {architecture}: "
            f"it lacks {exc.args[0]!r}"
        ) from exc  # fmt: skip
    # Parameters on the meta device: a random init of ViT-H's billion weights would
    # take longer than loading them. Buffers (position ids) are made for real.
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        model = CLIPModel(config)
    try:
        result = model.load_state_dict(converted, strict=False, assign=True)
    except RuntimeError as exc:  # a shape that does not fit the architecture
        raise ScorerLoadError(checkpoint, f"{path} does not fit {architecture}: {exc}") from exc
    # position_ids are buffers the model makes itself; every weight must come from the file.
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing:
        raise ScorerLoadError(checkpoint, f"{path} leaves {missing} of {architecture} unset")
    return model.float().eval()
