"""The process tree from /proc: descendants found wherever their session went, both ways."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_coord import _tree
from tests.gpu_coord.coord_helpers import wait_until

# A child that starts a grandchild in a session of its own, prints both pids, and waits.
_SPAWN = (
    "import json, subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
    " start_new_session=True)\n"
    "print(json.dumps([__import__('os').getpid(), g.pid]), flush=True)\n"
    "time.sleep(60)\n"
)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def tree() -> Iterator[tuple[subprocess.Popen[str], int]]:
    child = subprocess.Popen(
        [sys.executable, "-c", _SPAWN], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert child.stdout is not None
    _, grandchild = json.loads(child.stdout.readline())
    try:
        yield child, grandchild
    finally:
        for pid in (grandchild, child.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("children_files", [True, False], ids=["children-files", "full-scan"])
def test_descendants_include_one_in_another_session(
    tree: tuple[subprocess.Popen[str], int], children_files: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if children_files and not _tree._CHILDREN_FILES:
        pytest.skip("this kernel has no /proc/<pid>/task/<tid>/children")
    monkeypatch.setattr(_tree, "_CHILDREN_FILES", children_files)
    child, grandchild = tree
    assert os.getsid(grandchild) != os.getsid(child.pid)
    assert {child.pid, grandchild} <= _tree.descendants(os.getpid())
    assert _tree.descendants(child.pid) == {grandchild}
    assert _tree.descendants(grandchild) == set()


@pytest.mark.timeout(60)
def test_signal_tree_stops_and_continues_the_whole_tree(
    tree: tuple[subprocess.Popen[str], int],
) -> None:
    child, grandchild = tree
    _tree.signal_tree(child.pid, signal.SIGSTOP, root=child.pid)
    wait_until(lambda: _state(child.pid) == "T", "the child stopped")
    wait_until(lambda: _state(grandchild) == "T", "the grandchild, in its own session, stopped")
    _tree.signal_tree(child.pid, signal.SIGCONT, root=child.pid)
    wait_until(lambda: _state(child.pid) != "T", "the child running again")
    wait_until(lambda: _state(grandchild) != "T", "the grandchild running again")


def test_a_vanished_process_has_no_descendants() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert _tree.descendants(gone.pid) == set()
