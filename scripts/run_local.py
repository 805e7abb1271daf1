"""``make run``: the backend, the benchmark runner and the jobs service, sharing one lease.

No Docker and no GPU needed: the backend serves the tiny embedded model and the
runner works through ``research/data`` with ``research/benchmark.tiny.toml``.
All use the same lease record (``GPU_COORD_PATH``, or gpu_coord's
host-wide default), exactly as the containers do on a GPU host. The jobs service
listens on ``--jobs-port`` (8001); where no Docker engine answers it still starts
and refuses container jobs with the reason. Ctrl-C stops them all. Problems that
would make a run pointless (a busy port, no prompt folder, an unwritable results
folder) stop it before anything starts, with what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = ROOT / "research" / "models" / "tiny" / "tiny-sd"
TINY_CONFIG = ROOT / "research" / "benchmark.tiny.toml"
DATA_DIR = ROOT / "research" / "data"
RESULTS_DIR = ROOT / "research" / "benchmark_results"


class SetupError(Exception):
    """Something the user must fix before the services can start."""


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SetupError(
                f"port {port} on {host} is busy ({exc.strerror}). Stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or pick another port: "
                f"make run PORT={port + 1}"
            ) from None


def _check_folders(data_dir: Path, results_dir: Path) -> None:
    if not data_dir.is_dir():
        raise SetupError(
            f"{data_dir} is missing: the runner reads prompt sets from it. Create it "
            f"(mkdir -p {data_dir}) and drop a prompt set in, or restore the shipped one "
            "with `git checkout -- research/data`"
        )
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe = results_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise SetupError(
            f"{results_dir} cannot be written ({exc.strerror or exc}). Fix its permissions "
            f"(e.g. chown -R $USER {results_dir}) or point BENCHMARK_RESULTS_DIR elsewhere"
        ) from None


def _wait_ready(url: str, backend: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if backend.poll() is not None:
            raise SetupError(f"the backend exited with status {backend.returncode}; see above")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SetupError(f"the backend was not ready at {url} after {timeout:.0f} s")


def _jobs_note(url: str, jobs: subprocess.Popen[bytes], timeout: float = 30) -> str:
    """Wait for the jobs service to answer; one line on whether it can run container jobs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if jobs.poll() is not None:
            raise SetupError(f"the jobs service exited with status {jobs.returncode}; see above")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                health = json.loads(response.read())
            if health.get("docker"):
                return "container jobs run on this machine's Docker engine"
            return str(health.get("docker_error") or "container jobs are refused")
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.3)
    raise SetupError(f"the jobs service did not answer at {url}/healthz after {timeout:.0f} s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--jobs-port", type=int, default=int(os.environ.get("JOBS_PORT", 8001)))
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("BENCHMARK_DATA_DIR", DATA_DIR))
    results_dir = Path(os.environ.get("BENCHMARK_RESULTS_DIR", RESULTS_DIR))
    try:
        _check_port(args.host, args.port)
        _check_folders(data_dir, results_dir)
        _check_port(args.host, args.jobs_port)
    except SetupError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2

    env = dict(os.environ)
    env.setdefault("BACKEND_MODEL", str(TINY_MODEL))
    env["BACKEND_HOST"] = args.host
    env["BACKEND_PORT"] = str(args.port)
    env.setdefault("BENCHMARK_CONFIG", str(TINY_CONFIG))
    env["BENCHMARK_DATA_DIR"] = str(data_dir)
    env["BENCHMARK_RESULTS_DIR"] = str(results_dir)
    # Two services on one small host: one OpenMP thread each keeps them from
    # spin-waiting against each other (see docs/performance.md).
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["JOBS_HOST"] = args.host
    env["JOBS_PORT"] = str(args.jobs_port)
    env.setdefault("JOBS_DATA_DIR", str(results_dir / "jobs"))
    env.setdefault("JOBS_RESOURCES_DIR", str(ROOT / "research"))
    env.setdefault("JOBS_RESULTS_DIR", str(results_dir))
    env.setdefault("JOBS_BACKEND_URL", f"http://{args.host}:{args.port}")

    processes: list[subprocess.Popen[bytes]] = []
    base = f"http://{args.host}:{args.port}"
    jobs_url = f"http://{args.host}:{args.jobs_port}"
    names = ["backend", "runner", "jobs service"]
    try:
        processes.append(subprocess.Popen([sys.executable, "-m", "backend"], cwd=ROOT, env=env))
        _wait_ready(f"{base}/readyz", processes[0], timeout=300)
        processes.append(
            subprocess.Popen([sys.executable, "-m", "benchmark", "watch"], cwd=ROOT, env=env)
        )
        processes.append(subprocess.Popen([sys.executable, "-m", "jobs"], cwd=ROOT, env=env))
        jobs_note = _jobs_note(jobs_url, processes[2])
        print(
            "\n"
            f"  backend      {base}  (try: curl {base}/gpu-status)\n"
            f"  generate     curl -s {base}/v1/images/generations -H 'Content-Type: "
            'application/json\' -d \'{"prompt": "a red fox"}\'\n'
            f"  lease        {sys.executable} -m gpu_coord status --watch\n"
            f"  prompt sets  {data_dir}  (drop a .json/.jsonl/.csv/.tsv/.txt file here)\n"
            f"  results      {results_dir}  (images/, benchmark.sqlite3, "
            "reports/<run>/report.html)\n"
            f"  dashboard    {jobs_url}/  (the lease, the queue, the runner and the jobs, live)\n"
            f"  jobs         {jobs_url}  (JOBS_URL={jobs_url} {sys.executable} -m jobs list)\n"
            f"               {jobs_note}\n"
            "  Ctrl-C stops all three.\n",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        stopped = next(process for process in processes if process.poll() is not None)
        name = names[processes.index(stopped)]
        print(f"make run: the {name} exited with status {stopped.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmake run: stopping backend, runner and jobs service ...", flush=True)
        return 0
    except SetupError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop(processes)


if __name__ == "__main__":
    sys.exit(main())
