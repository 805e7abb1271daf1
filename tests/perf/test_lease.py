"""``python -m perf.lease --quick``: every measure for every scheme, appended as a section."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gpu_coord.coord_helpers import REPO, child_env


@pytest.mark.timeout(240)
def test_bench_quick_appends_a_table(tmp_path: Path) -> None:
    output = tmp_path / "perf.md"
    output.write_text("# existing\n\nkept as is\n")
    env = child_env(tmp_path / "unused" / "status.json")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "perf.lease",
            "--quick",
            "--output",
            str(output),
            "--dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = output.read_text()
    assert text.startswith("# existing\n\nkept as is\n")
    assert "python -m perf.lease --quick" in text
    assert f"{os.cpu_count()} cores" in text
    for measure in (
        "uncontended acquire+release, low",
        "checkpoint()",
        "handoff",
        "wake-up",
        "crash reclaim",
    ):
        assert measure in text
    for target in (
        "event log on",
        "event log off",
        "event log's cost",
        "high caller's wait, lease held by a frozen spinning `run` child",
        "processes left after 2 SIGKILLs of `run`",
        "a waiter's exit after its `cancel` is set",
    ):
        assert target in text
    assert "(child frozen) | 0 | 0 |" in text  # no process left behind
    assert re.search(
        r"`cancel` is set \(ms, p50 / p99\) \| p99 <= 20 \| [\d.]+ / [\d.]+ \(n=10\)", text
    )
    assert "| gpu_coord |" in text.splitlines()[-8] or "gpu_coord" in text
    assert "-" not in [
        cell.strip() for line in text.splitlines()[-6:] for cell in line.split("|")[3:-1]
    ]
