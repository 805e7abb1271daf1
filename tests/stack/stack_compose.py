"""The compose project under test: the repository's docker-compose.yml, GPU reservation removed.

:class:`Stack` drives ``docker compose`` (v2) or ``docker-compose`` (v1.29) with
``--project-directory`` at the repository root, so the build contexts and every
relative path resolve exactly as for ``docker compose up`` there, and with an env
file in a temp folder (tiny model, tiny config, a copy of research/).
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.stack.stack_engine import ROOT, progress, run

COMPOSE_FILE = ROOT / "docker-compose.yml"
PROJECT = "gpushare-e2e"
SERVICES = ("backend", "benchmark")  # the two that share the GPU through the lease
ALL_SERVICES = (*SERVICES, "jobs")


def without_gpu_reservation(compose: dict[str, Any]) -> dict[str, Any]:
    """The compose document with each service's ``deploy`` (the GPU reservation) removed.

    Checks that ``deploy`` held only the nvidia device reservation, so nothing else
    of the file is changed for the GPU-less host.
    """
    out = copy.deepcopy(compose)
    for name in ALL_SERVICES:
        deploy = out["services"][name].pop("deploy")
        devices = deploy["resources"]["reservations"]["devices"]
        assert deploy == {"resources": {"reservations": {"devices": devices}}}, deploy
        assert [d["driver"] for d in devices] == ["nvidia"], devices
        assert devices[0]["capabilities"] == ["gpu"], devices
    return out


def free_port() -> int:
    """A TCP port free on this host right now (the engine binds it on all interfaces)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


class Stack:
    """One compose project: the files it runs with, the commands, and HTTP to the backend."""

    def __init__(
        self,
        compose_cmd: list[str],
        workdir: Path,
        settings: dict[str, str],
        *,
        compose_file: Path | None = None,
        project: str = PROJECT,
    ) -> None:
        self.compose_cmd = compose_cmd
        self.workdir = workdir
        self.project = project
        self.log = workdir / f"{project}.log"
        self.env_file = workdir / f"{project}.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(settings.items())))
        self.settings = settings
        if compose_file is None:
            document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
            compose_file = workdir / "docker-compose.nogpu.yml"
            compose_file.write_text(yaml.safe_dump(without_gpu_reservation(document)))
        self.compose_file = compose_file
        self.port = int(settings["BACKEND_HOST_PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        # The env file must win: a value in the process environment overrides it.
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in settings and not k.startswith("COMPOSE_")
        }

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True, echo: tuple[str, ...] = ()
    ) -> str:
        """Run one compose command; returns its merged output."""
        command = [
            *self.compose_cmd,
            "-p",
            self.project,
            "-f",
            str(self.compose_file),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(self.env_file),
            *args,
        ]
        done = run(command, timeout=timeout, env=self.env, check=check, log=self.log, echo=echo)
        return done.stdout

    def container(self, service: str) -> str:
        """The id of the service's container ('' when it has none)."""
        output = self.compose("ps", "-q", service, timeout=60)
        # Compose v1 may print warnings on the same stream: keep the id lines only.
        ids = [line for line in output.split() if re.fullmatch(r"[0-9a-f]{12,64}", line)]
        return ids[-1] if ids else ""

    def health(self, service: str) -> str:
        cid = self.container(service)
        if not cid:
            return "no container"
        done = run(
            [
                "docker",
                "inspect",
                "-f",
                "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                cid,
            ],
            timeout=60,
            check=False,
        )
        return done.stdout.strip()

    def wait_healthy(self, service: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            state = self.health(service)
            if state != last:
                progress(f"{service}: {state}")
                last = state
            if state.endswith("healthy") and not state.endswith("unhealthy"):
                return
            time.sleep(2)
        raise AssertionError(
            f"{service} not healthy after {timeout:.0f} s (last: {last})\n" + self.logs(service, 60)
        )

    def logs(self, service: str, tail: int = 80) -> str:
        return self.compose(
            "logs", "--no-color", "--tail", str(tail), service, timeout=60, check=False
        )

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", timeout=180, check=False)

    def get(self, route: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base_url + route, timeout=30, **kwargs)

    def post(self, route: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.base_url + route, json=body, timeout=120)

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Poll /readyz until 200 (the model is loaded); returns its body."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                answer = self.get("/readyz")
                if answer.status_code == 200:
                    body: dict[str, Any] = answer.json()
                    return body
                last = answer.text[:200]
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(1)
        raise AssertionError(
            f"/readyz not ready after {timeout:.0f} s: {last}\n" + self.logs("backend", 60)
        )

    def gpu_status_samples(self, interval: float = 0.02) -> Iterator[dict[str, Any]]:
        """/gpu-status, again and again (the caller stops the loop)."""
        while True:
            yield self.get("/gpu-status").json()
            time.sleep(interval)

    def exec_json_lines(self, service: str, *argv: str) -> list[Any]:
        """Run a command in the service's container; every stdout line that is a JSON object."""
        done = run(["docker", "exec", self.container(service), *argv], timeout=120)
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
