"""The dependencies a bare GPU host lacks, installed from a folder of wheels with no index.

A lent GPU host has torch, transformers, accelerate and huggingface_hub and
cannot download anything. Everything else the services and the runner import
(diffusers, FastAPI, pydantic-settings, prometheus-client, nvidia-ml-py, ...)
travels as wheels in a folder filled where PyPI is reachable (see
``docs/gpu_check.md``); this module reads the list from ``pyproject.toml`` so
that it never drifts from what the project declares.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
#: The extras whose dependencies the check needs: both services and the experiments.
EXTRAS = ("backend", "benchmark", "perf")
#: What a GPU host brings with its CUDA build of torch; never reinstalled from the folder.
PREINSTALLED = ("torch", "transformers", "accelerate", "huggingface_hub")
#: pip resolving and unpacking some 40 wheels from a local folder.
WHEELS_BUDGET_S = 40.0

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: Path = PYPROJECT, extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """The requirements of ``extras`` (the project's own extras expanded) but :data:`PREINSTALLED`.

    Sorted, each as written in ``pyproject.toml`` (``"diffusers>=0.32"``).
    Raises ValueError naming the file and the extra when one is missing.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    own = _canonical(project["name"])
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    found: dict[str, str] = {}
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise ValueError(f"{pyproject}: project.optional-dependencies has no extra {extra!r}")
        for spec in optional[extra]:
            match = _NAME.match(spec)
            if match is None:
                raise ValueError(f"{pyproject}: extra {extra!r}: unreadable requirement {spec!r}")
            name = _canonical(match.group(1))
            if name == own:
                pending += [e.strip() for e in (match.group(3) or "").split(",") if e.strip()]
            elif name not in {_canonical(p) for p in PREINSTALLED}:
                found[name] = spec
    return [found[name] for name in sorted(found)]


def install_wheels(folder: Path, timeout_s: float, wanted: list[str] | None = None) -> str:
    """``pip install --no-index --find-links folder`` the requirements into this interpreter.

    ``wanted`` defaults to :func:`requirements`. Already-satisfied requirements
    are left as they are, so a host that has them all installs nothing.
    Returns a one-line summary; raises RuntimeError with pip's last lines when it
    fails (a wheel missing from the folder is named there by pip).
    """
    if not folder.is_dir():
        raise RuntimeError(f"--wheels {folder}: no such folder")
    wheels = sorted(folder.glob("*.whl"))
    wanted = requirements() if wanted is None else wanted
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--find-links",
        str(folder),
        "--disable-pip-version-check",
        "--no-input",
        *wanted,
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"pip did not finish within {timeout_s:g} s") from exc
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"pip install from {folder} failed (status {proc.returncode}): {tail}")
    installed = [
        line for line in proc.stdout.splitlines() if line.startswith("Successfully installed")
    ]
    count = len(installed[0].split()) - 2 if installed else 0
    return (
        f"{len(wanted)} requirements satisfied, {count} packages installed from "
        f"{len(wheels)} wheels in {folder} ({time.monotonic() - started:.0f} s)"
    )
