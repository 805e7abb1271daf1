"""Helpers for the gpu_coord tests: read child events, poll with safety bounds."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("_worker.py")


def child_env(lease_path: Path) -> dict[str, str]:
    """Environment for a child: this checkout importable, the lease in the test's folder."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["GPU_COORD_PATH"] = str(lease_path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Children:
    """Starts child processes and always kills and reaps them at teardown."""

    def __init__(self, lease_path: Path) -> None:
        self.lease_path = lease_path
        self.started: list[subprocess.Popen[str]] = []

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=kwargs.pop("env", child_env(self.lease_path)),
            cwd=kwargs.pop("cwd", REPO),
            **kwargs,
        )
        self.started.append(proc)
        return watch(proc)

    def worker(
        self, command: str, *, env: dict[str, str] | None = None, **args: Any
    ) -> subprocess.Popen[str]:
        args.setdefault("path", str(self.lease_path))
        argv = [sys.executable, str(WORKER), command, json.dumps(args)]
        return self.popen(argv) if env is None else self.popen(argv, env=env)

    def cli(self, *argv: str) -> subprocess.Popen[str]:
        return self.popen([sys.executable, "-m", "gpu_coord", *argv])

    def reap(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            finally:
                if proc.stderr is not None:
                    proc.stderr.close()


_EVENTS: dict[int, queue.Queue[str | None]] = {}


NOBODY = 65534


def run_as_nobody(body: str, lease_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``body`` (Python, ``sys.argv[1]`` is ``lease_path``) as user nobody, in a child.

    Root reads and writes every file, so permission cases are checked as an
    unprivileged user. ``gpu_coord`` is imported before privileges drop: /root is 0700.
    """
    script = (
        f"import json, os, sys\nimport gpu_coord\nos.setgid({NOBODY}); os.setuid({NOBODY})\n"
    ) + body
    return subprocess.run(
        [sys.executable, "-c", script, str(lease_path)],
        cwd=REPO,
        env=child_env(lease_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    # A thread per child: select() on a buffered text pipe would miss lines
    # already read into the buffer.
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.put(line)
    except (OSError, ValueError):
        pass
    finally:
        lines.put(None)
        proc.stdout.close()


def watch(proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
    """Start collecting a child's stdout lines for :func:`read_event`."""
    lines: queue.Queue[str | None] = queue.Queue()
    _EVENTS[id(proc)] = lines
    threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
    return proc


def read_event(proc: subprocess.Popen[str], timeout: float = 20.0) -> dict[str, Any]:
    """The next JSON line a child prints; fails (with its stderr) on timeout or exit."""
    try:
        line = _EVENTS[id(proc)].get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no output from child within {timeout:.1f} s") from None
    if line is None:
        proc.wait(timeout=10)
        err = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"child exited ({proc.returncode}) without output: {err}")
    event: dict[str, Any] = json.loads(line)
    return event


def wait_event(proc: subprocess.Popen[str], name: str, timeout: float = 20.0) -> dict[str, Any]:
    """Skip events until one named ``name``."""
    deadline = time.monotonic() + timeout
    while True:
        event = read_event(proc, max(0.01, deadline - time.monotonic()))
        if event.get("event") == name:
            return event


def wait_until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` until truthy (a safety bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def finish_text(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """Wait for a child to exit 0 and return the output it printed not yet read."""
    proc.wait(timeout=timeout)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, f"child failed ({proc.returncode}): {err}"
    lines = _EVENTS[id(proc)]
    out = []
    while (line := lines.get(timeout=10)) is not None:
        out.append(line)
    return "".join(out)


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait for a child to exit 0 and return the JSON lines it printed not yet read."""
    text = finish_text(proc, timeout)
    return [json.loads(line) for line in text.splitlines() if line.strip()]
