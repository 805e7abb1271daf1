"""How a job looks in the API: the record, its queue position, its baseline, its last log lines."""

from __future__ import annotations

import datetime as dt
from collections import deque
from pathlib import Path
from typing import Any

from jobs.docker_job import LOG_NAME
from jobs.store import JobRecord

LOG_TAIL_LINES = 20


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def log_tail(folder: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    path = folder / "output" / LOG_NAME
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]


def request_view(spec: dict[str, Any]) -> dict[str, Any]:
    """The submitted request without the files' contents (their paths and sizes instead)."""
    shown = {k: v for k, v in spec.items() if k != "files"}
    shown["files"] = [
        {"path": f["path"], "encoding": f["encoding"], "chars": len(f["content"])}
        for f in spec.get("files", [])
    ]
    return shown


def summary(record: JobRecord, queue_position: int | None) -> dict[str, Any]:
    """A job in a list: what it is and where it stands."""
    return {
        "id": record.id,
        "name": record.name,
        "status": record.status,
        "image": record.spec.get("image"),
        "queue_position": queue_position,
        "reason": record.reason,
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "exit_code": record.exit_code,
        "run_seconds": record.run_seconds,
        "paused_seconds": record.paused_seconds,
        "storage_used": record.storage_used,
    }


def detail(
    record: JobRecord,
    queue_position: int | None,
    folder: Path,
    baseline: JobRecord | None,
) -> dict[str, Any]:
    """A job in full."""
    view = summary(record, queue_position)
    view.update(
        {
            "device": record.device,
            "container_id": record.container_id,
            "oom_killed": record.oom_killed,
            "freezes": record.freezes,
            "result": record.result,
            "result_error": record.result_error,
            "baseline": None
            if baseline is None
            else {
                "id": baseline.id,
                "name": baseline.name,
                "status": baseline.status,
                "result": baseline.result,
            },
            "resource_check": record.resource_check,
            "events": [
                {"at": iso(e.at), "status": e.status, "detail": e.detail} for e in record.events
            ],
            "log_tail": log_tail(folder),
            "request": request_view(record.spec),
        }
    )
    return view
