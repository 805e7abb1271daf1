"""The benchmark TOML: the shipped configs parse, relative paths resolve, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_has_seven_real_models() -> None:
    config = load_config(REPO / "research" / "benchmark.toml")
    assert len(config.models) == 7
    assert len({m.source for m in config.models}) == 7
    assert all("/" in m.source and not m.source.startswith("/") for m in config.models)
    assert any(m.gated for m in config.models)
    assert config.scorers.clip_model == "openai/clip-vit-large-patch14"
    assert config.scorers.aesthetic_head == "camenduru/improved-aesthetic-predictor"
    assert config.run.seeds == (0,)


def test_tiny_config_resolves_paths_against_its_folder() -> None:
    config = load_config(REPO / "research" / "benchmark.tiny.toml")
    research = REPO / "research"
    assert config.run.device == "cpu"
    assert config.models[0].source == str(research / "models" / "tiny" / "tiny-sd")
    assert config.scorers.clip_model == str(research / "models" / "tiny" / "tiny-clip")
    assert config.scorers.aesthetic_file == "sac+logos+ava1-l14-linearMSE.pth"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


MODEL = '[[models]]\nname = "m"\nrepo = "org/model"\n'


def test_seeds_from_images_per_prompt(tmp_path: Path) -> None:
    config = load_config(
        _config(tmp_path, "[run]\nimages_per_prompt = 3\nbase_seed = 10\n" + MODEL)
    )
    assert config.run.seeds == (10, 11, 12)


def test_fingerprint_changes_with_settings_not_with_checkout(tmp_path: Path) -> None:
    local = '[[models]]\nname = "m"\npath = "models/x"\nsteps = 4\n'
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first = load_config(_config(a, local)).models[0]
    moved = load_config(_config(b, local)).models[0]
    assert first.source != moved.source
    assert first.fingerprint == moved.fingerprint
    changed = load_config(_config(a, local.replace("steps = 4", "steps = 5"))).models[0]
    assert changed.fingerprint != first.fingerprint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[run]\nseeds = [1, 1]\n" + MODEL, "run.seeds: duplicate"),
        ("[run]\nseeds = []\n" + MODEL, "run.seeds"),
        ("[run]\nimage_timeout_s = -1\n" + MODEL, "run.image_timeout_s: must be positive"),
        ("[run]\nbogus = 1\n" + MODEL, "run.bogus: unknown key"),
        ("[scorers]\nclip_model = 3\n" + MODEL, "scorers.clip_model: expected str"),
        ("", "need at least one [[models]]"),
        (MODEL.replace('repo = "org/model"\n', ""), "models[0] (m).repo: give exactly one"),
        (MODEL + "width = 100\n", "models[0] (m).width: 100 is not a multiple of 8"),
        (MODEL + 'dtype = "int8"\n', "models[0] (m).dtype"),
        (MODEL + "steps = 0\n", "models[0] (m).steps: must be positive"),
        (MODEL + "steps = 2.5\n", "models[0] (m).steps: expected int"),
        (MODEL + MODEL, "the name 'm' is used twice"),
        (MODEL.replace('"m"', '"bad name"'), "models[0].name"),
        ("[run\n", "bad TOML"),
        ("[extra]\n" + MODEL, "unknown table 'extra'"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
