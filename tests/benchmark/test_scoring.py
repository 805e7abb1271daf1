"""Scorers on the tiny offline models: real loading, the formulas, bad input."""

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
    AestheticPredictor,
    ScorerConfig,
    ScorerLoadError,
    Scorers,
    clip_score,
    load_aesthetic_predictor,
    load_scorers,
)

AESTHETIC_FILE = "sac+logos+ava1-l14-linearMSE.pth"
CAPTIONS = ["a red fox in the snow", "a blue car", "two cats on a sofa", "an old man", "x"]


def _image(seed: int, size: int = 64, mode: str = "RGB") -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB").convert(mode)


@pytest.fixture(scope="module")
def tiny_config(tiny_models: Any) -> ScorerConfig:
    return ScorerConfig(clip_model=str(tiny_models.clip), aesthetic_head=str(tiny_models.aesthetic))


@pytest.fixture(scope="module")
def scorers(tiny_config: ScorerConfig) -> Scorers:
    return load_scorers(tiny_config, device="cpu")


# --- the formula, on constructed embeddings -------------------------------------------


def test_clip_score_formula_on_constructed_embeddings() -> None:
    image = torch.tensor([3.0, 4.0, 0.0])
    assert clip_score(image, torch.tensor([6.0, 8.0, 0.0])) == pytest.approx(100.0)
    assert clip_score(image, torch.tensor([0.0, 0.0, 5.0])) == pytest.approx(0.0)
    # Negative cosine is clamped to zero, as in Hessel et al. and torchmetrics.
    assert clip_score(image, torch.tensor([-3.0, -4.0, 0.0])) == 0.0
    # cos = (3*0 + 4*4 + 0*3) / (5 * sqrt(16 + 9)) = 16/25
    assert clip_score(image, torch.tensor([0.0, 4.0, 3.0])) == pytest.approx(100 * 16 / 25)
    # A caption embedding near the image's ranks above an unrelated one.
    matching = image + torch.tensor([0.1, -0.2, 0.3])
    mismatched = torch.tensor([-1.0, 0.5, 2.0])
    assert clip_score(image, matching) > clip_score(image, mismatched)


def test_clip_score_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        clip_score(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="1-D"):
        clip_score(torch.ones(1, 3), torch.ones(1, 3))


# --- the real models --------------------------------------------------------------------


def test_scores_are_finite_and_deterministic(scorers: Scorers) -> None:
    image = _image(0)
    first = scorers.score(image, CAPTIONS[0])
    assert set(first) == {"clip_score", "aesthetic_score"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in first.values())
    assert 0.0 <= first["clip_score"] <= 100.0
    assert scorers.score(image, CAPTIONS[0]) == first
    # A freshly loaded copy gives the same numbers: nothing depends on load-time state.
    again = load_scorers(scorers.config, device="cpu")
    assert again.score(image, CAPTIONS[0]) == first


def test_clip_score_matches_the_models_own_similarity(scorers: Scorers) -> None:
    # CLIPModel's forward computes logits = exp(logit_scale) * cos(image, text) on its own
    # path; the score must be 100 * max(that cosine, 0) for every caption.
    image = _image(1)
    model = scorers.clip.model
    processor = scorers.clip.processor
    inputs = processor(text=CAPTIONS, images=image, return_tensors="pt", padding=True)
    with torch.inference_mode():
        cosines = model(**inputs).logits_per_image[0] / model.logit_scale.exp()
    for caption, cosine in zip(CAPTIONS, cosines.tolist(), strict=True):
        expected = 100.0 * max(cosine, 0.0)
        assert scorers.score(image, caption)["clip_score"] == pytest.approx(expected, abs=1e-3)


def test_aesthetic_score_matches_hand_computation(scorers: Scorers, tiny_models: Any) -> None:
    image = _image(2)
    state = torch.load(Path(tiny_models.aesthetic) / AESTHETIC_FILE, weights_only=True)
    embedding = scorers.clip.image_embedding(image).double()
    x = embedding / embedding.norm()
    for index in (0, 2, 4, 6, 7):  # Linear layers; dropouts are identities in eval
        x = state[f"layers.{index}.weight"].double() @ x + state[f"layers.{index}.bias"].double()
    expected = float(x[0])
    assert scorers.score(image, "anything")["aesthetic_score"] == pytest.approx(expected, abs=1e-4)
    # The aesthetic score reads only the image.
    assert scorers.score(image, "something else")["aesthetic_score"] == pytest.approx(expected)


def test_long_prompts_are_truncated_not_refused(scorers: Scorers) -> None:
    image = _image(3)
    long_prompt = " ".join(["a very detailed painting of a lighthouse"] * 50)  # > 300 tokens
    assert len(scorers.clip.processor.tokenizer(long_prompt)["input_ids"]) > 300
    score = scorers.score(image, long_prompt)
    assert math.isfinite(score["clip_score"])
    # Everything past the context window is ignored, so a different tail gives the same score.
    assert scorers.score(image, long_prompt + " and a dragon")["clip_score"] == pytest.approx(
        score["clip_score"]
    )


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
def test_any_image_mode_is_scored(scorers: Scorers, mode: str) -> None:
    score = scorers.score(_image(4, size=48, mode=mode), "a grey square")
    assert all(math.isfinite(v) for v in score.values())


def test_empty_prompt_and_wrong_types(scorers: Scorers) -> None:
    assert math.isfinite(scorers.score(_image(5), "")["clip_score"])
    with pytest.raises(TypeError, match="prompt"):
        scorers.score(_image(5), None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PIL image"):
        scorers.score(np.zeros((8, 8, 3)), "x")  # type: ignore[arg-type]


# --- the config and bad models ----------------------------------------------------------


def test_config_defaults_and_validation() -> None:
    config = ScorerConfig()
    assert config.clip_model == "openai/clip-vit-large-patch14"
    assert config.aesthetic_head == "camenduru/improved-aesthetic-predictor"
    assert config.aesthetic_file == AESTHETIC_FILE
    with pytest.raises(AttributeError):
        config.clip_model = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="aesthetic_file"):
        ScorerConfig(aesthetic_file=" ")


def test_missing_clip_model_names_the_path(tmp_path: Path, tiny_config: ScorerConfig) -> None:
    missing = tmp_path / "no" / "such-clip"
    bad = ScorerConfig(clip_model=str(missing), aesthetic_head=tiny_config.aesthetic_head)
    with pytest.raises(ScorerLoadError, match="such-clip") as caught:
        load_scorers(bad, device="cpu")
    assert isinstance(caught.value, ValueError)
    assert caught.value.model == str(missing)


def test_a_folder_that_is_not_a_clip_model(tmp_path: Path, tiny_config: ScorerConfig) -> None:
    (tmp_path / "config.json").write_text("{not json")
    bad = ScorerConfig(clip_model=str(tmp_path), aesthetic_head=tiny_config.aesthetic_head)
    with pytest.raises(ScorerLoadError, match=str(tmp_path)):
        load_scorers(bad, device="cpu")


def test_bad_aesthetic_heads(tmp_path: Path, tiny_models: Any) -> None:
    good = Path(tiny_models.aesthetic) / AESTHETIC_FILE
    with pytest.raises(ScorerLoadError, match="no such file or folder"):
        load_aesthetic_predictor(str(tmp_path / "a" / "b"), AESTHETIC_FILE)
    with pytest.raises(ScorerLoadError, match="folder has no"):
        load_aesthetic_predictor(str(tmp_path), AESTHETIC_FILE)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a torch file")
    with pytest.raises(ScorerLoadError, match="not a loadable torch state dict"):
        load_aesthetic_predictor(str(garbage), AESTHETIC_FILE)
    wrong_keys = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(1, 4)}, wrong_keys)
    with pytest.raises(ScorerLoadError, match="lacks the aesthetic MLP keys"):
        load_aesthetic_predictor(str(wrong_keys), AESTHETIC_FILE)
    # A head for 768-d ViT-L/14 embeddings does not fit the tiny CLIP: refused at load time.
    with pytest.raises(ScorerLoadError, match="expects 32-d CLIP embeddings"):
        load_aesthetic_predictor(str(good), AESTHETIC_FILE, expected_dim=768)


def test_a_pickled_object_is_refused(tmp_path: Path) -> None:
    # weights_only=True: a checkpoint that would run code on load is not loaded.
    evil = tmp_path / "evil.pth"
    torch.save({"layers.0.weight": torch.zeros(1024, 4), "hook": Path("x")}, evil)
    with pytest.raises(ScorerLoadError, match="not a loadable torch state dict"):
        load_aesthetic_predictor(str(evil), AESTHETIC_FILE)


def test_head_and_clip_sizes_must_agree(tmp_path: Path, tiny_config: ScorerConfig) -> None:
    head = AestheticPredictor(768)
    torch.save(head.state_dict(), tmp_path / AESTHETIC_FILE)
    bad = ScorerConfig(clip_model=tiny_config.clip_model, aesthetic_head=str(tmp_path))
    with pytest.raises(ScorerLoadError, match="768-d"):
        load_scorers(bad, device="cpu")


def test_head_from_the_hub_cache_by_repo_id(
    tmp_path: Path, tiny_models: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lay the file out as huggingface_hub caches a download, then resolve the repo id
    # offline through the real hf_hub_download.
    import huggingface_hub.constants as hub_constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--aesthetic-head"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    shutil.copy(Path(tiny_models.aesthetic) / AESTHETIC_FILE, repo / "snapshots" / commit)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)

    head = load_aesthetic_predictor("someone/aesthetic-head", AESTHETIC_FILE)
    assert head.input_dim == 32
    with pytest.raises(ScorerLoadError, match="someone/not-cached"):
        load_aesthetic_predictor("someone/not-cached", AESTHETIC_FILE)


def test_an_unusable_device_is_a_load_error(tiny_config: ScorerConfig) -> None:
    with pytest.raises(ScorerLoadError, match="bad device"):
        load_scorers(tiny_config, device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(ScorerLoadError, match="cuda"):
            load_scorers(tiny_config, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_scores_match_cpu_scores(scorers: Scorers, tiny_config: ScorerConfig) -> None:
    on_gpu = load_scorers(tiny_config, device="cuda")
    assert on_gpu.device.type == "cuda"
    for seed, caption in enumerate(CAPTIONS):
        cpu, gpu = scorers.score(_image(seed), caption), on_gpu.score(_image(seed), caption)
        assert gpu["clip_score"] == pytest.approx(cpu["clip_score"], abs=0.05)
        assert gpu["aesthetic_score"] == pytest.approx(cpu["aesthetic_score"], abs=1e-3)
