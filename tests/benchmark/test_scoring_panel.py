"""PickScore and HPS v2.1 on the tiny ViT-H-14-shaped models: real loading, shape, range,
determinism, batching, and the open_clip conversion checked against open_clip's own maths."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.scoring import (
    PANEL,
    ScorerConfig,
    ScorerLoadError,
    Scorers,
    load_open_clip_checkpoint,
    load_scorers,
)

PROMPTS = ["a red fox in the snow", "a blue car", "two cats on a sofa", "x"]
HPS_FILE = "HPS_v2.1_compressed.pt"


def _image(seed: int, size: int = 48) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def _config(tiny: Any, **overrides: Any) -> ScorerConfig:
    values: dict[str, Any] = {
        "enabled": PANEL,
        "clip_model": str(tiny.clip),
        "aesthetic_head": str(tiny.aesthetic),
        "pickscore_model": str(tiny.pickscore),
        "pickscore_processor": str(tiny.vit_h),
        "hps_checkpoint": str(tiny.hps),
        "hps_architecture": str(tiny.vit_h),
    }
    values.update(overrides)
    return ScorerConfig(**values)


@pytest.fixture(scope="module")
def panel(tiny_models: Any) -> Scorers:
    return load_scorers(_config(tiny_models), device="cpu")


def test_the_whole_panel_scores_a_batch(panel: Scorers) -> None:
    images = [_image(i) for i in range(len(PROMPTS))]
    batch = panel.score_batch(images, PROMPTS)
    assert panel.metrics == ("clip_score", "aesthetic_score", "pickscore", "hps_v21")
    assert len(batch) == len(PROMPTS)
    for scores in batch:
        assert tuple(scores) == panel.metrics
        assert all(isinstance(v, float) and math.isfinite(v) for v in scores.values())
        # Ranges: PickScore is exp(logit_scale) * cos, HPS 100 * cos.
        pick = panel.scorers[2]
        assert abs(scores["pickscore"]) <= pick.model.logit_scale + 1e-4  # type: ignore[attr-defined]
        assert -100.0 <= scores["hps_v21"] <= 100.0
    # Deterministic, and a batch gives what one image at a time gives.
    assert panel.score_batch(images, PROMPTS) == batch
    for image, prompt, scores in zip(images, PROMPTS, batch, strict=True):
        assert panel.score(image, prompt) == pytest.approx(scores, rel=1e-4, abs=1e-4)


def test_preference_scores_depend_on_the_prompt_and_the_image(panel: Scorers) -> None:
    image = _image(0)
    one = panel.score_batch([image, image], ["a red fox", "a spreadsheet of numbers"])
    assert one[0]["pickscore"] != one[1]["pickscore"]
    assert one[0]["hps_v21"] != one[1]["hps_v21"]
    two = panel.score_batch([_image(0), _image(1)], ["a red fox", "a red fox"])
    assert two[0]["hps_v21"] != two[1]["hps_v21"]


def test_a_fresh_load_gives_the_same_numbers(panel: Scorers, tiny_models: Any) -> None:
    again = load_scorers(_config(tiny_models, enabled=("pickscore", "hps")), device="cpu")
    try:
        image = _image(3)
        first = panel.score(image, PROMPTS[0])
        assert again.score(image, PROMPTS[0]) == {k: first[k] for k in ("pickscore", "hps_v21")}
    finally:
        again.close()


# --- the open_clip conversion against open_clip's forward ---------------------------------


class _Block(torch.nn.Module):
    """open_clip's ResidualAttentionBlock: torch's MultiheadAttention, c_fc/c_proj MLP."""

    def __init__(self, width: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(width)
        self.attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = torch.nn.LayerNorm(width)
        self.mlp = torch.nn.Sequential()
        self.mlp.add_module("c_fc", torch.nn.Linear(width, mlp))
        self.mlp.add_module("gelu", torch.nn.GELU())
        self.mlp.add_module("c_proj", torch.nn.Linear(mlp, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


def _blocks(state: dict[str, torch.Tensor], prefix: str, config: Any) -> list[_Block]:
    blocks = []
    for i in range(config.num_hidden_layers):
        block = _Block(config.hidden_size, config.num_attention_heads, config.intermediate_size)
        own = f"{prefix}transformer.resblocks.{i}."
        block.load_state_dict({k[len(own) :]: v for k, v in state.items() if k.startswith(own)})
        blocks.append(block.eval())
    return blocks


@torch.inference_mode()
def test_converted_weights_compute_what_open_clip_computes(tiny_models: Any) -> None:
    from transformers import CLIPConfig, CLIPProcessor

    raw = torch.load(Path(tiny_models.hps) / HPS_FILE, weights_only=True)["state_dict"]
    state = {k: v.float() for k, v in raw.items()}
    config: Any = CLIPConfig.from_pretrained(tiny_models.vit_h)
    processor: Any = CLIPProcessor.from_pretrained(tiny_models.vit_h)
    model = load_open_clip_checkpoint(str(tiny_models.vit_h), str(tiny_models.hps), HPS_FILE)
    pixels = processor(images=[_image(5), _image(6)], return_tensors="pt")["pixel_values"]
    tokens = processor(text=PROMPTS[:2], return_tensors="pt", padding=True)["input_ids"]

    # open_clip's VisionTransformer.forward, written out.
    x = torch.nn.functional.conv2d(pixels, state["visual.conv1.weight"], stride=14)
    x = x.flatten(2).transpose(1, 2)
    cls = state["visual.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + state["visual.positional_embedding"]
    ln = torch.nn.functional.layer_norm
    width = x.shape[-1]
    x = ln(x, (width,), state["visual.ln_pre.weight"], state["visual.ln_pre.bias"])
    for block in _blocks(state, "visual.", config.vision_config):
        x = block(x)
    pooled = ln(x[:, 0], (width,), state["visual.ln_post.weight"], state["visual.ln_post.bias"])
    expected_image = pooled @ state["visual.proj"]

    # open_clip's encode_text: causal mask, ln_final, pooled at the end-of-text token.
    t = state["token_embedding.weight"][tokens] + state["positional_embedding"][: tokens.shape[1]]
    mask = torch.full((tokens.shape[1],) * 2, float("-inf")).triu(1)
    for block in _blocks(state, "", config.text_config):
        t = block(t, mask)
    t = ln(t, (t.shape[-1],), state["ln_final.weight"], state["ln_final.bias"])
    eot = (tokens == config.text_config.eos_token_id).int().argmax(dim=-1)
    expected_text = t[torch.arange(t.shape[0]), eot] @ state["text_projection"]

    got_image = model.get_image_features(pixel_values=pixels)
    got_text = model.get_text_features(input_ids=tokens)
    got_image = getattr(got_image, "pooler_output", got_image)
    got_text = getattr(got_text, "pooler_output", got_text)
    torch.testing.assert_close(got_image, expected_image, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got_text, expected_text, rtol=1e-4, atol=1e-5)


# --- bad checkpoints --------------------------------------------------------------------


def test_bad_hps_checkpoints_are_refused_naming_the_source(
    tiny_models: Any, tmp_path: Path
) -> None:
    raw = torch.load(Path(tiny_models.hps) / HPS_FILE, weights_only=True)
    arch = str(tiny_models.vit_h)
    # A DistributedDataParallel "module." prefix is read as well.
    prefixed = tmp_path / "prefixed.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in raw["state_dict"].items()}}, prefixed)
    load_open_clip_checkpoint(arch, str(prefixed), HPS_FILE)
    lacking = tmp_path / "lacking.pt"
    torch.save({k: v for k, v in raw["state_dict"].items() if k != "ln_final.weight"}, lacking)
    with pytest.raises(ScorerLoadError, match=r"lacks 'ln_final\.weight'"):
        load_open_clip_checkpoint(arch, str(lacking), HPS_FILE)
    deeper = dict(raw["state_dict"])
    for k, v in raw["state_dict"].items():
        if k.startswith("transformer.resblocks.0."):
            deeper[k.replace(".0.", ".9.", 1)] = v
    torch.save(deeper, tmp_path / "deeper.pt")
    with pytest.raises(ScorerLoadError, match=r"has 3 text\.transformer layers"):
        load_open_clip_checkpoint(arch, str(tmp_path / "deeper.pt"), HPS_FILE)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ScorerLoadError, match=r"junk\.pt is not a loadable torch checkpoint"):
        load_open_clip_checkpoint(arch, str(tmp_path / "junk.pt"), HPS_FILE)
    with pytest.raises(ScorerLoadError, match="not a Hub repo id"):
        load_open_clip_checkpoint(arch, str(tmp_path / "nowhere"), HPS_FILE)


def test_a_missing_pickscore_model_names_it(tiny_models: Any, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ScorerLoadError, match="no-such-model"):
        load_scorers(_config(tiny_models, enabled=("pickscore",), pickscore_model=str(missing)))
    # The processor comes from its own repo: a PickScore folder without one still loads.
    bare = tmp_path / "pick"
    shutil.copytree(tiny_models.pickscore, bare)
    panel = load_scorers(_config(tiny_models, enabled=("pickscore",), pickscore_model=str(bare)))
    assert panel.metrics == ("pickscore",)
    assert panel.device == torch.device("cpu")
