"""Which scorers run: ScorerConfig and the TOML ``[scorers]`` table that maps onto it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from benchmark.config import ConfigError, load_config
from benchmark.scoring import DEFAULT_SCORERS, PANEL, ScorerConfig, ScorerLoadError, load_scorers

REPO = Path(__file__).resolve().parents[2]
MODEL = '[[models]]\nname = "m"\nrepo = "org/m"\n'


def test_the_research_config_runs_the_whole_panel() -> None:
    config = load_config(REPO / "research" / "benchmark.toml")
    assert config.scorers.enabled == PANEL
    assert config.scorers.pickscore_model == "yuvalkirstain/PickScore_v1"
    assert config.scorers.pickscore_processor == "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    assert (config.scorers.hps_checkpoint, config.scorers.hps_file) == (
        "xswu/HPSv2", "HPS_v2.1_compressed.pt"
    )  # fmt: skip
    # The settings become the worker's ScorerConfig field for field.
    assert ScorerConfig(**asdict(config.scorers)).enabled == PANEL
    tiny = load_config(REPO / "research" / "benchmark.tiny.toml").scorers
    assert tiny.enabled == PANEL
    assert tiny.hps_checkpoint == str(REPO / "research" / "models" / "tiny" / "tiny-hps")
    assert tiny.hps_file == "HPS_v2.1_compressed.pt"  # a name in the folder, not resolved


def test_without_enabled_the_small_scorers_run(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(MODEL)
    assert load_config(path).scorers.enabled == DEFAULT_SCORERS == ScorerConfig().enabled


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('enabled = ["clip", "typo"]', "unknown scorer 'typo'"),
        ("enabled = []", "non-empty list"),
        ('enabled = "clip"', "expected list"),
        ('enabled = ["clip", "clip"]', "named twice"),
        ('pickscore_model = ""', "must not be empty"),
        ('hps_model = "x"', "unknown key"),
    ],
)
def test_bad_scorer_tables_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(f"[scorers]\n{table}\n\n{MODEL}")
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path)
    assert str(path) in str(raised.value)
    assert "scorers." in str(raised.value)


def test_scorer_config_checks_its_fields() -> None:
    assert ScorerConfig(enabled=["clip"]).enabled == ("clip",)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="list of names"):
        ScorerConfig(enabled="clip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        ScorerConfig(enabled=("hps", "hps"))
    with pytest.raises(ValueError, match="hps_file"):
        ScorerConfig(hps_file=" ")
    with pytest.raises(ScorerLoadError, match="no scorer registered"):
        load_scorers(ScorerConfig(enabled=("imagereward",)), device="cpu")
