"""DockerJob: one sandboxed container, from creation to removal.

::

    with DockerJob("gpu-share-job:latest", work=w, output=o, resources=r,
                   script="python score.py", timeout=60, limits=Limits(cpus=1,
                   memory_bytes=512 * 2**20)) as job:
        outcome = job.wait()

The script is written into ``work`` as ``run.sh``; ``resources`` is mounted read-only at
``/resources``, ``work`` at ``/work`` (the working directory) and ``output`` at ``/output``.
stdout and stderr go to ``output/job.log`` as they come (:mod:`jobs.container_output`).
``wait()`` enforces the timeout itself (the SDK's ``wait(timeout=)`` is only a read timeout)
and the storage limit (by measuring the folders), kills the container past either, and reads
the result file from ``output``. The container is
always removed on exit; every container carries the ``gpu-share.jobs`` label so a service
that died before removing one sweeps it at its next start (:mod:`jobs.leftovers`).

Paths given here are the caller's; ``host_path`` turns them into the paths the engine sees
(a service in a container talks to the host's engine: its bind mounts name *host* paths).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import requests
from docker.client import DockerClient, from_env
from docker.models.containers import Container

from jobs.container_output import LOG_NAME, complete_log, read_result, start_log_pump
from jobs.leftovers import LABEL, LABEL_ID, sweep
from jobs.sandbox import Limits, sandbox_options
from jobs.storage import StorageWatch

# The labels, the log's name and the sweep have their own modules; they stay importable here.
__all__ = ["LABEL", "LABEL_ID", "LOG_NAME", "Detached", "DockerJob", "Outcome", "sweep"]

log = logging.getLogger("jobs.docker")

_POLL = 0.5  # seconds between timeout checks while the container runs


class Detached(Exception):
    """``wait()`` stopped watching because ``detach()`` was called; the container runs on."""


@dataclass(frozen=True)
class Outcome:
    """How a container ended."""

    exit_code: int | None
    oom_killed: bool
    timed_out: bool
    killed: bool
    run_seconds: float
    paused_seconds: float
    result: Any
    result_error: str | None
    log_path: Path
    #: What the job's folders took when it was killed for passing its storage, else None.
    over_storage_bytes: int | None = None


def _identity(path: Path) -> str:
    return str(path.resolve())


class DockerJob:
    """A context manager over one container; see the module docstring."""

    def __init__(
        self,
        image: str,
        *,
        work: Path,
        output: Path,
        resources: Path | None = None,
        script: str | None = None,
        command: Sequence[str] | None = None,
        result_file: str = "result.json",
        timeout: float = 300.0,
        limits: Limits | None = None,
        user: str = "65534:65534",
        network: bool = False,
        device: int | None = None,
        environment: Mapping[str, str] | None = None,
        mounts: Mapping[str, tuple[str, str]] | None = None,
        labels: Mapping[str, str] | None = None,
        name: str | None = None,
        host_path: Callable[[Path], str] = _identity,
        client: DockerClient | None = None,
    ) -> None:
        if (script is None) == (command is None):
            raise ValueError("give exactly one of script or command")
        if timeout <= 0:
            raise ValueError(f"timeout must be above 0 seconds, got {timeout}")
        if user.split(":", 1)[0] in {"0", "root"}:
            raise ValueError("a job never runs as root")
        self.image = image
        self.work, self.output, self.resources = work, output, resources
        self.script, self.command = script, list(command) if command is not None else None
        self.result_file = result_file
        self.timeout = timeout
        self.limits = limits or Limits()
        self.user, self.network, self.device = user, network, device
        self.environment = dict(environment or {})
        self.mounts = dict(mounts or {})  # container path -> (host source, "ro"|"rw")
        self.labels = {LABEL: "1", **(labels or {})}
        self.name = name
        self.host_path = host_path
        self.client = client or from_env()
        self.container: Container | None = None
        self.log_path = output / LOG_NAME
        self._t0: float | None = None  # monotonic start
        self._paused_total = 0.0
        self._paused_since: float | None = None
        self._killed = threading.Event()
        self._detached = threading.Event()
        self._ended = threading.Event()
        self._pump: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Called from ``wait()`` with the bytes the folders take, after each storage measure.
        self.on_storage: Callable[[int], None] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> DockerJob:
        if self.container is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def create(self) -> str:
        """Write the script and create (not start) the container; returns its id."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(parents=True, exist_ok=True)
        if self.script is not None:
            run_sh = self.work / "run.sh"
            run_sh.write_text(self.script if self.script.endswith("\n") else self.script + "\n")
            run_sh.chmod(0o755)
            argv = ["/bin/sh", "/work/run.sh"]
        else:
            assert self.command is not None
            argv = self.command
        volumes = {
            self.host_path(self.work): {"bind": "/work", "mode": "rw"},
            self.host_path(self.output): {"bind": "/output", "mode": "rw"},
        }
        if self.resources is not None:
            volumes[self.host_path(self.resources)] = {"bind": "/resources", "mode": "ro"}
        for target, (source, mode) in self.mounts.items():
            volumes[source] = {"bind": target, "mode": mode}
        environment = {
            "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "JOB_OUTPUT": "/output",
            "JOB_RESULT": f"/output/{self.result_file}",
            **self.environment,
        }
        container = self.client.containers.create(
            self.image,
            command=argv,
            name=self.name,
            labels=self.labels,
            user=self.user,
            working_dir="/work",
            environment=environment,
            volumes=volumes,
            **sandbox_options(self.limits, network=self.network, device=self.device),
        )
        self.container = container
        return str(container.id)

    def start(self) -> str:
        """Create (when not yet) and start the container; logs flow to ``output/job.log``."""
        if self.container is None:
            self.create()
        assert self.container is not None
        self.container.start()
        self._t0 = time.monotonic()
        self._pump = start_log_pump(self.container, self.log_path)
        return str(self.container.id)

    @classmethod
    def attach(
        cls,
        container_id: str,
        *,
        output: Path,
        result_file: str,
        timeout: float,
        started_at: float,
        paused_seconds: float = 0.0,
        storage_bytes: int | None = None,
        client: DockerClient | None = None,
    ) -> DockerJob:
        """Take over a container a previous service started (after a restart).

        The log file is rewritten from the engine's full log; the timeout counts from
        ``started_at`` (wall clock) less ``paused_seconds``. Raises ``docker.errors.NotFound``
        when the container is gone.
        """
        client = client or from_env()
        container = client.containers.get(container_id)
        # The container's own command stands in: nothing is created from this object.
        job = cls(
            str(container.attrs["Config"]["Image"]),
            work=output.parent / "work",
            output=output,
            command=list(container.attrs["Config"].get("Cmd") or ["?"]),
            result_file=result_file,
            timeout=timeout,
            user=str(container.attrs["Config"].get("User") or "65534:65534"),
            limits=Limits(storage_bytes=storage_bytes),
            client=client,
        )
        job.container = container
        job._paused_total = paused_seconds
        job._t0 = time.monotonic() - max(0.0, time.time() - started_at)
        if container.status == "paused":
            job._paused_since = time.monotonic()
        job._pump = start_log_pump(container, job.log_path)
        return job

    def remove(self) -> None:
        """Remove the container (killing it if it runs); never raises for one already gone.

        A job detached before it ended is left alone: the service will re-attach to it.
        """
        if self.container is None or (self._detached.is_set() and not self._ended.is_set()):
            return
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True)
        if self._pump is not None:
            self._pump.join(timeout=5)

    # -- control ------------------------------------------------------------------------------

    @property
    def paused_seconds(self) -> float:
        with self._lock:
            current = time.monotonic() - self._paused_since if self._paused_since else 0.0
            return self._paused_total + current

    @property
    def paused_now(self) -> bool:
        """Whether the container is frozen by this object right now."""
        with self._lock:
            return self._paused_since is not None

    def pause(self) -> None:
        """Freeze every process of the container (the cgroup freezer); the clock stops."""
        assert self.container is not None
        with self._lock:
            if self._paused_since is not None:
                return
            self.container.pause()
            self._paused_since = time.monotonic()

    def unpause(self) -> None:
        """Thaw the container; the time it was frozen does not count against the timeout."""
        assert self.container is not None
        with self._lock:
            if self._paused_since is None:
                return
            with contextlib.suppress(docker.errors.APIError):
                self.container.unpause()
            self._paused_total += time.monotonic() - self._paused_since
            self._paused_since = None

    def detach(self) -> None:
        """Stop watching: ``wait()`` raises :class:`Detached`, the container keeps running."""
        self._detached.set()

    def kill(self) -> None:
        """Kill the container now (a cancel); ``wait()`` then returns with ``killed``."""
        self._killed.set()
        if self.container is not None:
            with self._lock:
                if self._paused_since is not None:
                    # A frozen process cannot die from SIGKILL until thawed (cgroup v1).
                    with contextlib.suppress(docker.errors.APIError):
                        self.container.unpause()
            with contextlib.suppress(docker.errors.APIError):
                self.container.kill()

    def wait(self) -> Outcome:
        """Block until the container ends, the timeout passes (then kill) or ``kill()``."""
        assert self.container is not None, "start() first"
        assert self._t0 is not None, "start() first"
        container = self.container
        timed_out = False
        over_storage: int | None = None
        storage = self.limits.storage_bytes
        watch = None if storage is None else StorageWatch(storage, [self.work, self.output])
        exit_code: int | None = None
        while True:
            left = self.timeout + self.paused_seconds - (time.monotonic() - self._t0)
            if self._detached.is_set():
                raise Detached(str(container.id))
            if self._killed.is_set():
                # Again: a kill() that came between create and start found nothing to kill.
                with contextlib.suppress(docker.errors.APIError):
                    container.kill()
                break
            if left <= 0:
                timed_out = True
                log.info(
                    "container %s passed its %g s timeout: killing", container.id, self.timeout
                )
                self.kill()
                break
            used = None if watch is None else watch.poll()
            if used is not None and self.on_storage is not None:
                self.on_storage(used)
            if watch is not None and watch.over:
                over_storage = used
                log.info(
                    "container %s: its folders take %d bytes, over its storage of %d: killing",
                    container.id,
                    used,
                    storage,
                )
                self.kill()
                break
            try:
                answer = container.wait(timeout=max(0.05, min(left, _POLL)))
            except (requests.exceptions.RequestException, docker.errors.APIError):
                continue  # a read timeout: still running
            exit_code = int(answer.get("StatusCode", -1))
            break
        self._ended.set()
        run_seconds = time.monotonic() - self._t0
        state: dict[str, Any] = {}
        try:
            if exit_code is None:
                answer = container.wait(timeout=60)
                exit_code = int(answer.get("StatusCode", -1))
            container.reload()
            state = container.attrs.get("State", {})
        except (requests.exceptions.RequestException, docker.errors.APIError) as exc:
            log.warning("container %s: could not read its end state: %s", container.id, exc)
        if self._pump is not None:
            self._pump.join(timeout=10)
        complete_log(container, self.log_path)
        result, result_error = read_result(self.output, self.result_file)
        return Outcome(
            exit_code=exit_code,
            oom_killed=bool(state.get("OOMKilled", False)),
            timed_out=timed_out,
            killed=self._killed.is_set() and not timed_out and over_storage is None,
            run_seconds=run_seconds - self.paused_seconds,
            paused_seconds=self.paused_seconds,
            result=result,
            result_error=result_error,
            log_path=self.log_path,
            over_storage_bytes=over_storage,
        )
