"""Getting a Docker engine, the local base image and the build inputs for the stack test.

Nothing here mocks Docker: it finds (or, where allowed, installs and starts) a real
engine through ``scripts/docker/ensure-engine.sh``, builds the Debian base image
through ``scripts/docker/build-base-image.sh``, and stages the CPU torch wheel and
the host's extra CA certificates in the gitignored ``.docker-build/`` folder that
the Dockerfiles read through the ``BUILD_WHEELS_DIR`` / ``BUILD_CERTS_DIR`` build
arguments.
"""

from __future__ import annotations

import contextlib
import filecmp
import glob
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "docker"
STAGE = ROOT / ".docker-build"
BASE_IMAGE = os.environ.get("GPU_SHARE_BASE_IMAGE", "gpu-share-base:bookworm")
ENABLE_HINT = (
    "set GPU_SHARE_E2E=1 to have the test install (Debian, as root) and start a Docker "
    "engine itself, or start one (`sudo scripts/docker/ensure-engine.sh`); "
    "GPU_SHARE_E2E=0 always skips it"
)
_START = time.monotonic()


_config: pytest.Config | None = None


def show_progress_with(config: pytest.Config) -> None:
    """Let :func:`progress` print past pytest's output capture (set by tests/stack/conftest.py)."""
    global _config
    _config = config


def progress(message: str) -> None:
    """One progress line on the terminal, even with output captured, so a slow step shows."""
    line = f"[stack-e2e +{time.monotonic() - _START:6.1f}s] {message}\n"
    capman = _config.pluginmanager.getplugin("capturemanager") if _config else None
    if capman is None:
        sys.stderr.write(line)
        sys.stderr.flush()
        return
    with capman.global_and_fixture_disabled():
        sys.stderr.write(line)
        sys.stderr.flush()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _falsy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"0", "false", "no", "off"}


def e2e_mode() -> tuple[str, str]:
    """Whether to run: ("required", why), ("if-available", why) or ("skip", why).

    Required in CI (``CI=true``) and with ``GPU_SHARE_E2E=1``: the engine is
    installed and started when missing and any failure fails the test. Otherwise
    it runs when an engine already answers and skips with a hint when none does.
    """
    flag = os.environ.get("GPU_SHARE_E2E")
    if _falsy(flag):
        return "skip", "the compose end-to-end test is disabled by GPU_SHARE_E2E=0"
    if _truthy(flag):
        return "required", "GPU_SHARE_E2E=1"
    if _truthy(os.environ.get("CI")):
        return "required", "CI=true"
    return "if-available", "a Docker engine answers"


def run(
    args: Sequence[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    check: bool = True,
    log: Path | None = None,
    echo: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run a command, its output merged and kept; lines containing an ``echo`` marker are shown.

    ``check`` raises AssertionError with the command and the end of its output.
    """
    proc = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    expired = threading.Event()

    def expire() -> None:
        # A silent hang blocks the line reader: kill the command's whole process group.
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, expire)
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if any(marker in line for marker in echo):
                progress("  " + line.strip()[:160])
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if expired.is_set():
        raise AssertionError(
            f"timed out after {timeout:.0f} s: {' '.join(args)}\n{''.join(lines[-40:])}"
        )
    output = "".join(lines)
    if log is not None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(args)}\n{output}\n")
    result = subprocess.CompletedProcess(list(args), proc.returncode, output, "")
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit status {proc.returncode}: {' '.join(args)}\n{''.join(lines[-40:])}"
        )
    return result


def engine_answers() -> bool:
    """True when ``docker info`` answers within a few seconds."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) when the plugin exists, else ``docker-compose`` (v1.29), else None.

    ``GPU_SHARE_COMPOSE`` (for example ``docker-compose``) overrides the choice.
    """
    forced = os.environ.get("GPU_SHARE_COMPOSE")
    if forced:
        return forced.split()
    try:
        v2 = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
        )
        if v2.returncode == 0:
            return ["docker", "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return ["docker-compose"] if shutil.which("docker-compose") else None


def ensure_engine() -> None:
    """Install (if missing) and start a Docker engine; AssertionError with its log on failure."""
    progress("ensuring a Docker engine (scripts/docker/ensure-engine.sh)")
    run(["bash", str(SCRIPTS / "ensure-engine.sh")], timeout=600, echo=("[docker-engine]",))


def image_exists(image: str) -> bool:
    done = subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, timeout=60, check=False
    )
    return done.returncode == 0


def ensure_base_image() -> str:
    """The local Debian base image, built with debootstrap when missing (needs root)."""
    if not image_exists(BASE_IMAGE):
        progress(f"building the local base image {BASE_IMAGE} (debootstrap, a few minutes)")
        run(
            ["bash", str(SCRIPTS / "build-base-image.sh"), BASE_IMAGE],
            timeout=900,
            echo=("[base-image]",),
        )
    return BASE_IMAGE


def find_torch_wheel(cache: Path) -> Path:
    """A CPU torch wheel for the base image's CPython 3.11.

    ``GPU_SHARE_TORCH_WHEEL`` names one; else the first ``/opt/wheels/torch-*+cpu-cp311-*``;
    else it is downloaded once from the PyTorch CPU index into ``cache``.
    """
    named = os.environ.get("GPU_SHARE_TORCH_WHEEL")
    if named:
        path = Path(named)
        if not path.is_file():
            raise AssertionError(f"GPU_SHARE_TORCH_WHEEL={named}: no such file")
        return path
    for pattern in ("/opt/wheels/torch-*+cpu-cp311-*.whl", f"{cache}/torch-*+cpu-cp311-*.whl"):
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1])
    cache.mkdir(parents=True, exist_ok=True)
    progress("downloading a CPU torch wheel for CPython 3.11 (once)")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            "manylinux_2_28_x86_64",
            "--index-url",
            "https://download.pytorch.org/whl/cpu",
            "--dest",
            str(cache),
            "torch",
        ],
        timeout=900,
    )
    found = sorted(glob.glob(f"{cache}/torch-*+cpu-cp311-*.whl"))
    if not found:
        raise AssertionError(f"no CPU torch wheel in {cache} after pip download")
    return Path(found[-1])


def _sync(sources: list[Path], folder: Path) -> None:
    # Copy only what changed and drop the rest: the build context (and so the
    # layer cache key) stays identical between runs.
    folder.mkdir(parents=True, exist_ok=True)
    names = {src.name for src in sources}
    for stale in folder.iterdir():
        if stale.name not in names:
            stale.unlink()
    for src in sources:
        dest = folder / src.name
        if not (dest.is_file() and filecmp.cmp(src, dest, shallow=False)):
            shutil.copyfile(src, dest)


def stage_build_inputs(wheel: Path) -> tuple[str, str]:
    """Stage the wheel and the host's extra CA files; returns the two build-arg folders.

    The CAs (``/usr/local/share/ca-certificates/**/*.crt``) are what a host behind a
    TLS-inspecting proxy trusts; the images need them for pip.
    """
    certs = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    _sync(certs, STAGE / "certs")
    _sync([wheel], STAGE / "wheels")
    return ".docker-build/certs", ".docker-build/wheels"


def build_benchmark_image(tag: str, *, uid: int, gid: int) -> str:
    """``gpu-share-benchmark:<tag>`` built as compose builds it (same Dockerfile and args).

    For tests that need the runner's image before the compose test has built the stack
    (the container-per-model test runs earlier in the suite): the compose build that
    follows reuses every layer.
    """
    image = f"gpu-share-benchmark:{tag}"
    base = ensure_base_image()
    certs_dir, wheels_dir = stage_build_inputs(
        find_torch_wheel(Path.home() / ".cache" / "gpu-share" / "wheels")
    )
    progress(f"building {image} (research/Dockerfile.benchmark)")
    args = {
        "BASE_IMAGE": base,
        "BUILD_CERTS_DIR": certs_dir,
        "BUILD_WHEELS_DIR": wheels_dir,
        "APP_UID": str(uid),
        "APP_GID": str(gid),
    }
    command = ["docker", "build", "-t", image, "-f", "research/Dockerfile.benchmark"]
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    run([*command, "."], timeout=1200, echo=(" RUN ", "[build-env]", "Successfully tagged"))
    return image
