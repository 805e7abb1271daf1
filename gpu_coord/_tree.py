"""The process tree under ``run``'s child, read from ``/proc``: what a freeze must reach.

A signal to the child's process group misses every descendant that left the group
(``setsid``, ``setpgid``: daemons, some launchers). Following parent links in ``/proc``
finds them wherever they went, as long as their parent chain leads back to ``run``, whose
only child the command is; ``run`` makes itself a child subreaper
(``PR_SET_CHILD_SUBREAPER``) so that orphans of the tree are re-parented to it instead of
init and stay found. The walk reads each thread's ``children`` file where the kernel has
them (its cost is the tree's size: about 0.1 ms for a few processes), else every
``/proc/<pid>/stat`` (the host's size: about 1.3 ms for 70 processes). Where there is no
``/proc`` (not Linux) it finds nothing and the group signal is all.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from pathlib import Path

_PROC = Path("/proc")
_PR_SET_CHILD_SUBREAPER = 36
#: Rounds of "find the new ones, stop them": a process forking while it is stopped
#: leaves a child only the next round can see.
_ROUNDS = 8


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux 3.4+); True when done."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    return False


def _has_children_files() -> bool:
    # CONFIG_PROC_CHILDREN (on in the usual distribution kernels): each thread's children.
    return Path(f"/proc/self/task/{threading.get_native_id()}/children").exists()


_CHILDREN_FILES = _has_children_files()


def _state(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of ``pid``; None when it is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    fields = text.rsplit(")", 1)[-1].split()
    return (int(fields[1]), fields[0]) if len(fields) >= 2 else None


def _children_of(pid: int) -> list[int]:
    """The children of ``pid`` from its threads' ``children`` files (cost: the tree's size)."""
    found: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue  # the thread ended meanwhile
    return found


def _all_children() -> dict[int, list[int]]:
    """Parent -> children over every process in ``/proc`` (cost: the host's process count)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e.name for e in os.scandir(_PROC) if e.name.isdigit()]
    except OSError:
        return children
    for name in entries:
        state = _state(int(name))
        if state is not None:
            children.setdefault(state[0], []).append(int(name))
    return children


def descendants(root: int) -> set[int]:
    """Every process whose parent chain leads to ``root`` (``root`` itself excluded)."""
    table = None if _CHILDREN_FILES else _all_children()
    found: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        for child in _children_of(pid) if table is None else table.get(pid, []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def reap_orphans(keep: int) -> None:
    """Collect the exit status of re-parented descendants that died (never ``keep``'s)."""
    for pid in descendants(os.getpid()):
        state = _state(pid)
        if pid != keep and state is not None and state == (os.getpid(), "Z"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def signal_tree(group: int, signum: int, *, root: int | None = None) -> None:
    """Send ``signum`` to process group ``group`` and to every descendant of ``root``.

    ``root`` is this process by default (``run``: its one child's tree and the orphans it
    adopted). Repeated until a round finds nobody new: a process that forked just before
    its SIGSTOP leaves a child only the next round sees (a stopped one cannot fork again).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)
    top = os.getpid() if root is None else root
    sent: set[int] = set()
    for _ in range(_ROUNDS):
        new = descendants(top) - sent
        if not new:
            return
        for pid in new:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
        sent |= new
