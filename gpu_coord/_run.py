"""``python -m gpu_coord run``: any program inside the lease, second to the backend.

The child runs in its own process group. A low-priority run is a
:class:`~gpu_coord.PreemptibleHold` whose freeze is SIGSTOP of that group and of
every descendant that left it (``setsid``: found through ``/proc``, see
:mod:`gpu_coord._tree`) and whose thaw is SIGCONT, so the whole tree stops,
wherever it is, and nothing of it needs to know about the lease. SIGINT, SIGTERM
and SIGHUP are forwarded to the group (thawed first). The child is made to die
with the run command (``PR_SET_PDEATHSIG``: SIGKILL reaches a stopped process
too), and whatever is left of its tree when it exits is killed, so no part of
it outlives the run or stays frozen. The exit status is the child's (128 + N
for signal N).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from types import FrameType

from ._preempt import PreemptibleHold
from ._tree import become_subreaper, reap_orphans, signal_tree

_PR_SET_PDEATHSIG = 1
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def resolve(command: list[str]) -> str:
    """The executable ``command`` starts; ValueError naming it when it cannot start."""
    if not command:
        raise ValueError("run: no command given (put it after --)")
    name = command[0]
    found = shutil.which(name)
    if found is None:
        where = "" if os.sep in name else " on PATH"
        raise FileNotFoundError(f"run: cannot start {name!r}: not an executable file{where}")
    return found


class _Child:
    """The child's process group: started, frozen and thawed under one (reentrant) lock."""

    def __init__(self) -> None:
        self.cond = threading.Condition()  # an RLock: signal handlers may run inside it
        self.proc: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self.stopping: int | None = None

    def start(self, argv: list[str]) -> subprocess.Popen[bytes] | None:
        with self.cond:
            # Frozen before it started: the lease is someone else's until the thaw.
            while self.frozen and self.stopping is None:
                self.cond.wait(0.1)
            if self.stopping is not None:
                return None
            parent = os.getpid()
            self.proc = subprocess.Popen(
                argv, process_group=0, preexec_fn=lambda: _die_with(parent)
            )
            return self.proc

    def freeze(self) -> None:
        with self.cond:
            self.frozen = True
            self._signal(signal.SIGSTOP, tree=True)

    def thaw(self) -> None:
        with self.cond:
            self.frozen = False
            self._signal(signal.SIGCONT, tree=True)
            self.cond.notify_all()
            if self.proc is not None:
                reap_orphans(keep=self.proc.pid)

    def forward(self, signum: int) -> None:
        with self.cond:
            self.stopping = signum
            self._signal(signal.SIGCONT, tree=True)
            self._signal(signum)
            self.cond.notify_all()

    def end(self) -> None:
        """Kill what is left of the tree (the child has exited)."""
        with self.cond:
            self._signal(signal.SIGCONT, tree=True)
            self._signal(signal.SIGKILL, tree=True)

    def _signal(self, signum: int, *, tree: bool = False) -> None:
        """To the child's group; with ``tree``, to every descendant outside it too."""
        if self.proc is None:
            return
        if tree:
            signal_tree(self.proc.pid, signum)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


def _die_with(parent: int) -> None:
    # In the child, before exec: SIGKILL when the run command dies, however it dies.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the run command died before the prctl took hold
        os.kill(os.getpid(), signal.SIGKILL)


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def run(
    command: list[str],
    *,
    owner: str,
    priority: str = "low",
    device: int | None = None,
    path: str | None = None,
    max_wait: float | None = None,
    timeout: float | None = None,
    drain_seconds: float,
    memory_bytes: int | None = None,
) -> int:
    """Run ``command`` inside the lease; return its exit status."""
    executable = resolve(command)
    child = _Child()
    hold = PreemptibleHold(
        owner,
        freeze=child.freeze,
        thaw=child.thaw,
        priority=priority,
        device=device,
        path=path,
        drain_seconds=drain_seconds,
        timeout=timeout,
        memory_bytes=memory_bytes,
        max_wait=max_wait,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if child.proc is None:
            raise _Stopped(signum)  # not started yet: give up the wait
        child.forward(signum)

    # Orphans of the child's tree come to this process, not init: a freeze still finds them.
    become_subreaper()
    previous = {s: signal.signal(s, on_signal) for s in _FORWARDED}
    try:
        with hold:
            proc = child.start([executable, *command[1:]])
            if proc is None:
                return 128 + (child.stopping or signal.SIGTERM)
            code = proc.wait()
            child.end()
    except _Stopped as stop:
        print("gpu_coord: run: stopped before the lease was granted", file=sys.stderr)
        return 128 + stop.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code
