"""The per-model summary says where each model ran: devices, placement, resident and peak memory."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmark.report import summarize, write_reports
from benchmark.report._format import format_gib
from tests.benchmark.conftest import report_row

GIB = 2**30
RUN_ID = "20261201T100000Z-placement"


def _row(index: int, **overrides: Any) -> dict[str, Any]:
    fields = {"prompt_id": f"p{index}", "prompt": f"prompt {index}", "category": None}
    return report_row(**{**fields, "model": "big", **overrides})


def _rows() -> list[dict[str, Any]]:
    # "big" ran on the GPU for three images, ran out of memory on the fourth and finished
    # under model offload (less resident, a lower peak); "small" ran all on the GPU of
    # lease 1; "cpu" had no CUDA figures at all.
    big = [
        _row(i, device="cuda:0", placement="gpu", resident_mem_bytes=int(20.5 * GIB),
             peak_mem_bytes=int(22.25 * GIB) + i, working_mem_bytes=int(1.75 * GIB))
        for i in range(3)
    ] + [
        _row(i, device="cuda:0", placement="model_offload", resident_mem_bytes=int(9.5 * GIB),
             peak_mem_bytes=int(12 * GIB))
        for i in range(3, 5)
    ]  # fmt: skip
    small = [
        _row(i, model="small", device="cuda:1", placement="gpu", resident_mem_bytes=GIB // 2,
             peak_mem_bytes=GIB // 2 + GIB // 4)
        for i in range(2)
    ]  # fmt: skip
    cpu = [_row(i, model="cpu", device="cpu lease 1", placement="gpu") for i in range(2)]
    failed = _row(9, model="cpu", device="cpu lease 2", placement="gpu", status="failed")
    return [*big, *small, *cpu, failed]


def _write(tmp_path: Path) -> dict[str, Path]:
    run = {
        "id": RUN_ID,
        "started_at": "2026-12-01T10:00:00Z",
        "finished_at": "2026-12-01T10:05:00Z",
        "config": "benchmark.toml",
        "prompt_sets": ["set one"],
        "models": ["big", "small", "cpu"],
    }
    results = tmp_path / "results"
    return write_reports(run, _rows(), results_dir=results, out_dir=results / "reports" / RUN_ID)


def test_summary_takes_the_most_used_placement_and_notes_the_change() -> None:
    big, small, cpu = summarize(_rows(), ["big", "small", "cpu"])
    assert big.devices == ("cuda:0",)
    assert big.placement == "gpu"
    assert big.placement_counts == {"gpu": 3, "model_offload": 2}
    assert big.placement_note == (
        "gpu for 3 of 5 images, then model_offload for 2 (after an out-of-memory retry)"
    )
    assert big.resident_mem_bytes_max == int(20.5 * GIB)
    assert big.peak_mem_bytes_max == int(22.25 * GIB) + 2
    assert (small.placement, small.placement_note) == ("gpu", None)
    assert small.resident_mem_bytes_max == GIB // 2
    # Failed images count too: they show where the model was when it failed.
    assert cpu.devices == ("cpu lease 1", "cpu lease 2")
    assert cpu.resident_mem_bytes_max is None
    assert cpu.peak_mem_bytes_max is None


def test_most_images_win_even_after_the_change() -> None:
    rows = [_row(0, placement="gpu")] + [_row(i, placement="sequential_offload") for i in (1, 2)]
    (summary,) = summarize(rows, ["big"])
    assert summary.placement == "sequential_offload"
    assert summary.placement_note == (
        "gpu for 1 of 3 images, then sequential_offload for 2 (after an out-of-memory retry)"
    )


def test_rows_without_the_figures_summarize_as_unmeasured() -> None:
    rows = [_row(0)]
    for key in ("device", "placement", "resident_mem_bytes", "working_mem_bytes"):
        del rows[0][key]  # a store written before these were measured
    (summary,) = summarize(rows, ["big"])
    assert (summary.devices, summary.placement, summary.placement_counts) == ((), None, {})
    assert summary.placement_note is None
    assert summary.resident_mem_bytes_max is None


def test_gib_figures_keep_three_significant_digits() -> None:
    assert format_gib(None) == "n/a"
    assert format_gib(0) == "0 GiB"
    assert format_gib(1024) == "< 0.001 GiB"
    assert format_gib(GIB // 2) == "0.500 GiB"
    assert format_gib(9.876 * GIB) == "9.88 GiB"
    assert format_gib(21.44 * GIB) == "21.4 GiB"
    assert format_gib(141.2 * GIB) == "141 GiB"


def test_json_markdown_and_html_show_where_each_model_ran(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    summary = {item["model"]: item for item in document["summary"]}
    assert summary["big"]["devices"] == ["cuda:0"]
    assert summary["big"]["placement"] == "gpu"
    assert summary["big"]["placement_counts"] == {"gpu": 3, "model_offload": 2}
    assert summary["big"]["placement_note"].startswith("gpu for 3 of 5 images")
    assert summary["big"]["resident_mem_bytes_max"] == int(20.5 * GIB)
    assert summary["cpu"]["resident_mem_bytes_max"] is None
    assert summary["cpu"]["placement_note"] is None

    markdown = paths["md"].read_text(encoding="utf-8")
    text = markdown.splitlines()
    start = next(i for i, line in enumerate(text) if line.startswith("| model | ok |"))
    columns = [c.strip() for c in text[start].strip("|").split("|")]
    table_lines = text[start + 2 : start + 5]  # the per-model table's three rows
    lines = {line.split("|")[1].strip(): line for line in table_lines}

    def cells(model: str) -> dict[str, str]:
        values = [c.strip() for c in lines[model].strip().strip("|").split("|")]
        assert len(values) == len(columns)
        return dict(zip(columns, values, strict=True))

    big, small, cpu = cells("big"), cells("small"), cells("cpu")
    assert (big["device"], big["placement"]) == ("cuda:0", "gpu †")
    assert (big["resident memory"], big["peak memory"]) == ("20.5 GiB", "22.3 GiB")
    assert (small["device"], small["placement"]) == ("cuda:1", "gpu")
    assert (small["resident memory"], small["peak memory"]) == ("0.500 GiB", "0.750 GiB")
    assert cpu["device"] == "cpu lease 1, cpu lease 2"
    assert (cpu["resident memory"], cpu["peak memory"]) == ("n/a", "n/a")
    assert "† The placement changed mid-run:" in markdown
    assert "- big: gpu for 3 of 5 images, then model_offload for 2" in markdown

    html = paths["html"].read_text(encoding="utf-8")
    table = html[html.index("<table class=summary>") : html.index("</table>")]
    for header in ("device", "placement", "resident memory", "peak memory"):
        assert f"<th>{header}</th>" in table
    big_row = re.search(r"<tr><th>[^<]*<span[^>]*></span>big</th>(.*?)</tr>", table)
    assert big_row is not None
    assert "<td>cuda:0</td>" in big_row.group(1)
    assert '<td title="gpu for 3 of 5 images, then model_offload' in big_row.group(1)
    assert ">gpu †</td>" in big_row.group(1)
    assert "<td>20.5 GiB</td>" in big_row.group(1)
    assert ">22.3 GiB</td>" in big_row.group(1)  # not the lowest peak: not in bold
    cpu_row = re.search(r"big</th>.*<span[^>]*></span>cpu</th>(.*?)</tr>", table)
    assert cpu_row is not None
    assert cpu_row.group(1).count("<td>n/a</td>") == 2
    assert "<ul class=placement-notes><li>big: gpu for 3 of 5 images" in html
