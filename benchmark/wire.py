"""The worker's messages as JSON lines: how a containerised worker talks to the runner.

A process worker speaks :mod:`benchmark.messages` over a pipe (pickled); a
worker in a container speaks the same messages through two files in folders
both sides mount: the runner appends tasks to ``tasks.jsonl``, the worker
appends its messages to ``report.jsonl`` (:class:`FileConnection` is the
worker's end). One line is one message: ``{"type": "Done", ...fields}``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from benchmark.messages import (
    Done,
    Failed,
    Loaded,
    LoadFailed,
    Pause,
    Resume,
    Stop,
    Task,
    ToWorker,
    Warn,
    WorkerMessage,
)
from benchmark.records import Measures

__all__ = [
    "HEARTBEAT",
    "REPORT",
    "TASKS",
    "FileConnection",
    "LineReader",
    "decode",
    "encode",
]

TASKS = "tasks.jsonl"  # in the job's work folder: the runner's side
REPORT = "report.jsonl"  # in the job's output folder: the worker's side
HEARTBEAT = "heartbeat"  # in the work folder: touched by the runner while it lives
_TYPES: dict[str, type] = {
    t.__name__: t for t in (Done, Failed, Loaded, LoadFailed, Pause, Resume, Stop, Task, Warn)
}


def encode(message: WorkerMessage | ToWorker) -> str:
    """One message as one JSON line (no newline)."""
    if isinstance(message, Task):
        body: dict[str, Any] = {
            "request": asdict(message.request),
            "image_path": message.image_path,
        }
    else:
        body = {f.name: getattr(message, f.name) for f in fields(message)}
        if isinstance(message, Done):
            body["measures"] = asdict(message.measures)
            body["scores"] = dict(message.scores) if message.scores is not None else None
    return json.dumps({"type": type(message).__name__, **body})


def decode(line: str) -> WorkerMessage | ToWorker:
    """The message of one JSON line; ValueError for anything else."""
    data = json.loads(line)
    kind = _TYPES.get(str(data.pop("type", ""))) if isinstance(data, dict) else None
    if kind is None:
        raise ValueError(f"not a worker message: {line[:200]!r}")
    if kind is Task:
        from imagegen import GenerationRequest

        return Task(GenerationRequest(**data["request"]), data["image_path"])
    if kind is Done:
        return Done(Measures(**data["measures"]), data.get("scores"))
    message: WorkerMessage | ToWorker = kind(**data)
    return message


class LineReader:
    """Reads the complete lines appended to a file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[str]:
        """The new complete lines (a line still being written waits for its newline)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        return [line.decode("utf-8") for line in lines if line.strip()]


def append_line(path: Path, line: str) -> None:
    """Append one line in one write, so a reader never sees two messages interleaved."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


class FileConnection:
    """The worker's end of the files: ``send`` appends to the report, ``recv`` waits for a task.

    A runner that died stops touching the heartbeat file; after ``orphan_s``
    without a touch the worker exits, so no container keeps a model forever.
    """

    def __init__(self, work: Path, output: Path, *, orphan_s: float = 60.0) -> None:
        self.report = output / REPORT
        self.tasks = LineReader(work / TASKS)
        self.heartbeat = work / HEARTBEAT
        self.orphan_s = orphan_s
        self._pending: list[str] = []
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            try:
                idle = time.time() - self.heartbeat.stat().st_mtime
            except FileNotFoundError:
                idle = self.orphan_s + 1
            if idle > self.orphan_s:
                os._exit(3)

    def send(self, message: WorkerMessage) -> None:
        """Append ``message`` to the report file."""
        append_line(self.report, encode(message))

    def recv(self) -> ToWorker:
        """The next task (or :class:`Stop`), waiting for the runner to append it."""
        while not self._pending:
            self._pending = self.tasks.read()
            if not self._pending:
                time.sleep(0.05)
        message = decode(self._pending.pop(0))
        assert isinstance(message, Task | Stop), f"unexpected message {message!r}"
        return message
