"""Reports: every file written and parseable, images linked relatively, text escaped."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from benchmark.records import row_columns
from benchmark.report import category_means, summarize, write_reports
from benchmark.report._svg import Series, nice_ticks, strip_chart
from tests.benchmark.conftest import report_row as _row

EVIL = "<script>alert('owned')</script><img src=x onerror=alert(1)> & \"quotes\""
RUN_ID = "20261122T100000Z-test"


class _Page(HTMLParser):
    """Collects what the tests look at: tags by name with their attributes, and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _save_image(results: Path, relative: str, seed: int) -> str:
    path = results / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(path)
    return relative


def _run(**overrides: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": RUN_ID,
        "started_at": "2026-11-22T10:00:00Z",
        "finished_at": "2026-11-22T10:05:00Z",
        "config": "benchmark.tiny.toml",
        "prompt_sets": ["set one"],
        "models": ["model-a", "model-b"],
    }
    run.update(overrides)
    return run


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return tmp_path / "benchmark_results"


def _sample_rows(results: Path) -> list[dict[str, Any]]:
    rows = []
    prompts = [("p1", "a red fox", "animals"), ("p2", EVIL, "text rendering"), ("p3", "x", None)]
    for index, (prompt_id, prompt, category) in enumerate(prompts):
        for model in ("model-a", "model-b"):
            for seed in (1, 2):
                failed = model == "model-b" and prompt_id == "p2" and seed == 2
                relative = f"images/set one/{model}/{prompt_id}+{seed}.png"
                rows.append(
                    _row(
                        prompt_id=prompt_id,
                        prompt=prompt,
                        category=category,
                        model=model,
                        seed=seed,
                        status="failed" if failed else "ok",
                        error="generation timed out after 5 s <hung>" if failed else None,
                        image_path=None if failed else _save_image(results, relative, index),
                        latency_s=None if failed else 0.5 + index + seed,
                        clip_score=None if failed else 10.0 + index,
                        aesthetic_score=None if failed else 4.0 + seed,
                        peak_mem_bytes=1024 * (index + 1) if model == "model-a" else None,
                    )
                )
    return rows


def _write(results: Path, rows: list[dict[str, Any]], **run: Any) -> dict[str, Path]:
    out = results / "reports" / RUN_ID
    return write_reports(_run(**run), rows, results_dir=results, out_dir=out)


# --- files ---------------------------------------------------------------------------------


def test_every_file_is_written_and_parses(results: Path) -> None:
    rows = _sample_rows(results)
    paths = _write(results, rows)
    out = results / "reports" / RUN_ID
    assert paths == {kind: out / f"report.{kind}" for kind in ("json", "csv", "md", "html")}
    assert all(path.is_file() for path in paths.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())

    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document["run"]["id"] == RUN_ID
    assert len(document["rows"]) == len(rows)
    summary = {item["model"]: item for item in document["summary"]}
    assert [item["model"] for item in document["summary"]] == ["model-a", "model-b"]
    assert summary["model-a"]["ok"] == 6
    assert summary["model-a"]["failed"] == 0
    assert summary["model-b"]["ok"] == 5
    assert summary["model-b"]["failed"] == 1
    assert summary["model-a"]["clip_mean"] == pytest.approx(11.0)
    assert summary["model-a"]["peak_mem_bytes_max"] == 3072
    assert summary["model-b"]["peak_mem_bytes_max"] is None

    with paths["csv"].open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ())[: len(row_columns())] == row_columns()
        parsed = list(reader)
    assert len(parsed) == len(rows)
    assert [r["prompt"] for r in parsed] == [r["prompt"] for r in rows]
    failed = [r for r in parsed if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["clip_score"] == ""
    assert failed[0]["image_path"] == ""

    markdown = paths["md"].read_text(encoding="utf-8")
    assert "| model-a | 6 | 0 |" in markdown
    assert "generation timed out after 5 s" in markdown
    assert "<script>" not in markdown


def test_rewriting_replaces_the_files_and_leaves_no_temporaries(results: Path) -> None:
    rows = _sample_rows(results)
    _write(results, rows[:3], finished_at=None)
    paths = _write(results, rows)
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert len(document["rows"]) == len(rows)
    leftovers = [p.name for p in paths["json"].parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


# --- HTML ----------------------------------------------------------------------------------


def test_html_links_existing_images_by_relative_paths(results: Path, tmp_path: Path) -> None:
    rows = _sample_rows(results)
    paths = _write(results, rows)
    sources = [attrs["src"] for attrs in _parse(paths["html"]).all("img")]
    assert len(sources) == sum(1 for r in rows if r["status"] == "ok")
    for source in sources:
        assert source is not None
        assert not urlparse(source).scheme
        assert not source.startswith("/")
        assert (paths["html"].parent / unquote(source)).resolve().is_file()
    # The page keeps working when the whole results folder moves.
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(results, moved)
    copied_html = moved / "reports" / RUN_ID / "report.html"
    for source in sources:
        assert source is not None
        assert (copied_html.parent / unquote(source)).is_file()


def test_html_escapes_prompts_models_and_errors(results: Path) -> None:
    rows = _sample_rows(results)
    rows.append(
        _row(model="<b>model-c</b>", status="failed", error="<iframe src=evil>", clip_score=None)
    )
    paths = _write(results, rows)
    raw = paths["html"].read_text(encoding="utf-8")
    page = _parse(paths["html"])
    assert len(page.all("script")) == 1  # the page's own filter script only
    assert not [a for a in page.all("img") if a.get("src") == "x"]
    assert page.all("iframe") == []
    assert page.all("b") == []
    assert "&lt;script&gt;alert(" in raw
    # The escaped prompt still reads correctly as text.
    assert any(EVIL in text for text in page.text)
    assert any("<b>model-c</b>" in text for text in page.text)


def test_failed_rows_and_none_metrics_render(results: Path) -> None:
    rows = [
        _row(
            model="model-a",
            status="failed",
            error="CUDA out of memory",
            clip_score=None,
            aesthetic_score=None,
            latency_s=None,
            steps_per_s=None,
            yields=None,
            lease_wait_s=None,
        ),
        _row(
            model="model-b",
            image_path="images/set one/model-b/missing.png",
            clip_score=math.nan,
            aesthetic_score=None,
        ),
    ]
    paths = _write(results, rows, finished_at=None)
    document = json.loads(paths["json"].read_text(encoding="utf-8"))  # strict JSON: no NaN
    assert document["rows"][1]["clip_score"] is None
    summary = {item["model"]: item for item in document["summary"]}
    assert summary["model-a"]["ok"] == 0
    assert summary["model-a"]["clip_mean"] is None
    assert summary["model-b"]["clip_mean"] is None
    assert summary["model-b"]["ok"] == 1
    raw = paths["html"].read_text(encoding="utf-8")
    assert "CUDA out of memory" in raw
    assert "image missing" in raw  # a row whose file is gone is shown, not linked
    assert _parse(paths["html"]).all("img") == []
    assert "running" in raw
    assert "still running" in paths["md"].read_text(encoding="utf-8")


def test_a_run_with_no_rows_yet(results: Path) -> None:
    paths = _write(results, [], finished_at=None)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["rows"] == []
    assert paths["csv"].read_text(encoding="utf-8").startswith(",".join(row_columns()))
    assert "No images yet" in paths["html"].read_text(encoding="utf-8")


def test_html_has_summary_charts_and_a_grid_row_per_prompt(results: Path) -> None:
    paths = _write(results, _sample_rows(results))
    page = _parse(paths["html"])
    # Two metrics with scores and two models: a win-rate matrix each, two Pareto charts
    # (seconds and joules), a strip chart each, latency, throughput, memory and energy.
    assert len(page.all("svg")) == 10
    grid_rows = [a for a in page.all("tr") if "data-search" in a]
    assert len(grid_rows) == 3
    assert {a["data-category"] for a in grid_rows} == {"animals", "text rendering", ""}


# --- statistics ----------------------------------------------------------------------------


def test_summary_statistics_by_hand() -> None:
    rows = [
        _row(latency_s=v, clip_score=c, yields=y, lease_wait_s=w, energy_j=e, peak_mem_bytes=m)
        for v, c, y, w, e, m in [
            (1.0, 10.0, 0, 0.5, 100.0, 10),
            (2.0, 20.0, 1, 0.0, 200.0, 30),
            (3.0, 30.0, 2, 1.5, None, 20),
            (4.0, 100.0, 0, 0.0, 300.0, None),
        ]
    ]
    rows.append(_row(status="failed", latency_s=99.0, clip_score=None, yields=1))
    (summary,) = summarize(rows, ["model-a"])
    assert (summary.images, summary.ok, summary.failed) == (5, 4, 1)
    assert summary.value("clip_mean") == pytest.approx(40.0)
    assert summary.value("clip_median") == pytest.approx(25.0)
    assert summary.latency_p50_s == pytest.approx(2.5)
    assert summary.latency_p95_s == pytest.approx(3.85)  # 3 + 0.85 * (4 - 3)
    assert summary.images_per_s == pytest.approx(4 / 10)
    assert summary.yields_total == 4
    assert summary.lease_wait_s_total == pytest.approx(2.0)
    assert summary.energy_j_mean == pytest.approx(200.0)
    assert summary.peak_mem_bytes_max == 30
    (empty,) = summarize(rows, ["never-ran"])
    assert empty.images == 0
    assert empty.latency_p50_s is None
    assert empty.images_per_s is None


def test_category_means() -> None:
    rows = [
        _row(category="animals", clip_score=10.0),
        _row(category="animals", clip_score=20.0),
        _row(category=None, clip_score=7.0, model="model-b"),
        _row(category="animals", status="failed", clip_score=None),
    ]
    table = category_means(rows, ["model-a", "model-b"], "clip_score")
    assert table == {
        "(none)": {"model-a": None, "model-b": 7.0},
        "animals": {"model-a": 15.0, "model-b": None},
    }


def test_nice_ticks_cover_the_range() -> None:
    for low, high in [(0.0, 1.0), (20.3, 31.7), (0.0, 6.0), (5.0, 5.0), (-3.0, 0.01)]:
        ticks = nice_ticks(low, high)
        assert ticks[0] <= low
        assert ticks[-1] >= high
        steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1
        assert 2 <= len(ticks) <= 12


# --- bad input -----------------------------------------------------------------------------


def test_bad_run_and_rows_name_the_field(results: Path) -> None:
    out = results / "reports" / "x"
    run = _run()
    del run["models"]
    with pytest.raises(ValueError, match="models"):
        write_reports(run, [], results_dir=results, out_dir=out)
    with pytest.raises(ValueError, match="prompt_sets"):
        write_reports(_run(prompt_sets="one"), [], results_dir=results, out_dir=out)
    bad_row = _row()
    del bad_row["model"]
    with pytest.raises(ValueError, match=r"rows\[1\].*model"):
        write_reports(_run(), [_row(), bad_row], results_dir=results, out_dir=out)
    with pytest.raises(ValueError, match=r"rows\[0\]\['status'\]"):
        write_reports(_run(), [_row(status="done")], results_dir=results, out_dir=out)
    assert not out.exists()  # nothing half-written on bad input


def test_an_unwritable_out_dir_raises_naming_the_path(results: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="a-file"):
        write_reports(_run(), [], results_dir=results, out_dir=blocker / "reports")


def test_chart_ticks_stay_distinct_on_a_narrow_range(results: Path) -> None:
    # Near-identical aesthetic scores (as the tiny models give) still get readable axes.
    values = [-0.14031, -0.14029, -0.14030]
    rows = [_row(seed=i, aesthetic_score=v) for i, v in enumerate(values)]
    html = _write(results, rows)["html"].read_text(encoding="utf-8")
    aesthetic_svg = html[html.index("Aesthetic score per image") :].split("</svg>")[0]
    ticks = re.findall(r'class="tick">([^<]*)<', aesthetic_svg)
    assert len(ticks) >= 2
    assert len(set(ticks)) == len(ticks), ticks
    direct = strip_chart("narrow", [Series("m", "#000", values)])
    assert len(set(re.findall(r'class="tick">([^<]*)<', direct))) >= 2


def test_grid_marks_the_best_model_per_prompt(results: Path) -> None:
    rows = [
        _row(prompt_id="p1", model="model-a", clip_score=30.0),
        _row(prompt_id="p1", model="model-b", clip_score=20.0),
        _row(prompt_id="p2", model="model-a", clip_score=25.0),  # alone: nothing to beat
        _row(prompt_id="p3", model="model-a", clip_score=22.0),
        _row(prompt_id="p3", model="model-b", clip_score=22.0),  # a tie marks nothing
    ]
    page = _parse(_write(results, rows)["html"])
    marked = [attrs for attrs in page.all("td") if attrs.get("class") == "top"]
    assert len(marked) == 1
    raw = _write(results, rows)["html"].read_text(encoding="utf-8")
    p1_row = raw[raw.index('data-search="set one p1') : raw.index('data-search="set one p2')]
    cells = p1_row.split("<td")[1:]
    assert cells[0].startswith(" class=top")  # model-a's cell, the first model column
    assert "CLIP score against seconds per image" in raw


def test_csv_defuses_spreadsheet_formulas(results: Path) -> None:
    attacks = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3",
               "@SUM(1,2)", "\tTAB=1", "\rCR=1"]  # fmt: skip
    rows = [_row(prompt_id=f"p{i}", prompt=text) for i, text in enumerate(attacks)]
    rows.append(_row(prompt_id="fine", prompt="a = b, and -1 in the middle", latency_s=-0.5))
    rows.append(_row(prompt_id="err", status="failed", error="=cmd()", latency_s=None))
    paths = _write(results, rows)
    with paths["csv"].open(newline="", encoding="utf-8") as handle:
        parsed = {r["prompt_id"]: r for r in csv.DictReader(handle)}
    for i, text in enumerate(attacks):
        assert parsed[f"p{i}"]["prompt"] == "'" + text  # shown as text, never run
    assert parsed["fine"]["prompt"] == "a = b, and -1 in the middle"
    assert parsed["fine"]["latency_s"] == "-0.5"  # numbers stay numbers
    assert parsed["err"]["error"] == "'=cmd()"
    # The JSON report keeps the prompts exactly: it is not for spreadsheets.
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document["rows"][0]["prompt"] == attacks[0]


def test_typed_records_are_taken_as_they_are(results: Path) -> None:
    from benchmark import Generation, ItemKey, Measures, RunRecord

    measures = Measures(64, 64, 2, 0.5, 4.0, None, 0.0, 0, None)
    sets, models = ({"name": "s", "hash": "h"},), ({"name": "m", "fingerprint": "f"},)
    run = RunRecord(RUN_ID, "2026-12-01T09:00:00.000Z", None, "b.toml", sets, models)
    rows = [
        Generation(run_id=run_id, key=ItemKey("s", f"h{i}", "m", "f", 0), prompt_id=f"p{i}",
                   prompt=f"prompt {i}", category=None, model_source="org/m", status="ok",
                   measures=measures, scores={"clip_score": 20.0, "aesthetic_score": 5.0})
        for i, run_id in enumerate([RUN_ID, "an-earlier-run", "an-earlier-run"])
    ]  # fmt: skip
    paths = write_reports(run, rows, results_dir=results, out_dir=results / "reports" / RUN_ID)
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document["run"]["reused_results"] == 2
    assert document["rows"][0] == rows[0].as_row()
    assert set(document["rows"][0]) == set(row_columns())
    markdown = paths["md"].read_text(encoding="utf-8")
    assert "2 of 3 made by earlier runs" in markdown
    assert "remakes only the prompts whose text changed" in markdown
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", document["generated_at"])


def test_partiprompts_categories_and_challenges_are_both_tables(results: Path) -> None:
    both = '{"category": "Animals", "challenge": "Basic"}'
    rows = [
        _row(prompt_id="p1", category=both, clip_score=10.0),
        _row(prompt_id="p2", category='{"category": "Food", "challenge": "Basic"}',
             clip_score=20.0),
        _row(prompt_id="p3", category="Food", clip_score=30.0),  # a plain category too
    ]  # fmt: skip
    paths = _write(results, rows)
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    tables = document["categories"]["clip_score"]
    a_only = {"(none)": 30.0, "Animals": 10.0, "Food": 25.0, "Basic": 15.0}
    expected = {name: {"model-a": mean, "model-b": None} for name, mean in a_only.items()}
    assert tables["category"] == {k: expected[k] for k in ("Animals", "Food")}
    assert tables["challenge"] == {k: expected[k] for k in ("(none)", "Basic")}
    markdown = paths["md"].read_text(encoding="utf-8")
    assert "## Mean CLIP score by challenge" in markdown
    html = paths["html"].read_text(encoding="utf-8")
    assert "Mean CLIP score by challenge" in html
    assert "Animals · Basic" in html  # the grid shows the axes as people read them


def test_rank_by_picks_the_leaderboard_metric(results: Path) -> None:
    rows = [
        _row(model="model-a", clip_score=30.0, aesthetic_score=4.0),
        _row(model="model-b", clip_score=20.0, aesthetic_score=6.0),
    ]
    out = results / "reports" / RUN_ID
    paths = write_reports(_run(), rows, results_dir=results, out_dir=out, rank_by="aesthetic_score")
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert [s["model"] for s in document["leaderboard"]] == ["model-b", "model-a"]
    assert document["win_rates"]["clip_score"]["model-a"]["model-b"]["rate"] == 1.0
    with pytest.raises(ValueError, match="no metric 'typo'"):
        write_reports(_run(), rows, results_dir=results, out_dir=out, rank_by="typo")
