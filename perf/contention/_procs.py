"""The role processes, seen from the parent: start, command, always reap."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, TextIO


class RoleError(RuntimeError):
    """A role process died, answered with an error, or did not answer in time."""


class RoleProcess:
    """``python -m perf.contention.role`` as a child, driven one JSON line at a time.

    Its stderr goes to a temporary log whose tail is quoted in every :class:`RoleError`.
    :meth:`close` asks it to quit, then kills it; it is safe to call more than once.
    """

    def __init__(self, spec: dict[str, Any], env: dict[str, str]) -> None:
        self.name = str(spec["role"])
        # Lives as long as the child; closed in close().
        self._log: TextIO = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", prefix=f"contention-{self.name}-"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "perf.contention.role", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=Path.cwd(),
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(
            target=self._read, name=f"contention-{self.name}-reader", daemon=True
        ).start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._log.flush()
            self._log.seek(0)
            text = self._log.read()
            return text[-3000:]
        return ""

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next reply; RoleError on death, an error reply, or ``timeout`` seconds of silence."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RoleError(
                f"{self.name} process gave no answer within {timeout:.0f} s\n{self._log_tail()}"
            ) from None
        if line is None:
            code = self._proc.wait()
            raise RoleError(f"{self.name} process exited (status {code})\n{self._log_tail()}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RoleError(f"{self.name} process: {reply['error']}\n{self._log_tail()}")
        return reply

    def send(self, command: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
        except OSError as exc:
            raise RoleError(f"{self.name} process is gone ({exc})\n{self._log_tail()}") from exc

    def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(command)
        return self.receive(timeout)

    def quit(self) -> None:
        """Ask the child to exit, without waiting (so several can wind down at once)."""
        if self._proc.poll() is None:
            with contextlib.suppress(OSError, RoleError):
                self.send({"cmd": "quit"})

    def close(self) -> None:
        """Ask the child to quit, wait up to 10 s, then kill it; always reaps."""
        if self._proc.poll() is None:
            self.quit()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        self._log.close()


def role_env() -> dict[str, str]:
    """The children's environment: one OpenMP thread each, offline, this project importable."""
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1"
    )
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


# Runs at SCHED_IDLE: it gets the core only when nothing else wants it.
_SPIN = (
    "import os, sys\n"
    "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
    "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
    "while True:\n"
    "    pass\n"
)


def start_spinner(core: int) -> subprocess.Popen[bytes] | None:
    """Keep ``core`` from idling with a SCHED_IDLE busy loop; None where unsupported.

    A role alone on an otherwise idle core leaves it idle between requests, and
    an idle (virtual) CPU wakes up slower than a busy one; the spinner gives every
    scenario a core that never idles, as the roles give each other when sharing.
    """
    if not hasattr(os, "SCHED_IDLE"):
        return None
    return subprocess.Popen(
        [sys.executable, "-c", _SPIN, str(core)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def stop_spinner(spinner: subprocess.Popen[bytes] | None) -> None:
    """Kill and reap the spinner (None is ignored)."""
    if spinner is None:
        return
    spinner.kill()
    spinner.wait()
