"""Progress lines: done/total including resumed work, rate, ETA, model and set."""

from __future__ import annotations

import logging

import pytest

from benchmark.progress import Progress


def test_progress_lines(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress(total=10, already=4)
    assert "ETA ?" in progress.line("m", "s")
    with caplog.at_level(logging.INFO, logger="benchmark.progress"):
        progress.advance("sdxl", "parti", ok=True)
        progress.advance("sdxl", "parti", ok=False)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[-1].startswith("progress 6/10 images (60.0%) | ")
    assert "img/s | ETA " in lines[-1]
    assert lines[-1].endswith("model sdxl | set parti | 1 failed")
    assert "\r" not in "".join(lines)
    assert progress.rate > 0
    assert progress.eta_s is not None
