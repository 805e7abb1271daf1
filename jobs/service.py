"""The job service: submit, queue, schedule by resources, run, cancel, recover after a restart.

``JobService`` owns the store, the Docker client (or the reason there is none), and one
:class:`jobs.runner.Runner` per running job. The scheduler thread starts queued jobs, oldest
first, as their resources fit (a job that does not fit yet keeps its place and shows why;
smaller jobs behind it may start meanwhile).
Reaching the engine is :mod:`jobs.engine`; what a restart finds is :mod:`jobs.recovery`.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from docker.client import DockerClient

from jobs import gpu, store
from jobs.docker_job import DockerJob
from jobs.engine import NO_ENGINE, NoEngine, connect, engine_client
from jobs.errors import Conflict, InvalidField, NotFound, Unavailable
from jobs.hostpaths import HostPaths
from jobs.intake import check_limits, job_user, write_files
from jobs.leftovers import LABEL_ID, LABEL_SERVICE
from jobs.recovery import recover
from jobs.resources import Given, Host, measure_host, place, refuse_never_fits
from jobs.runner import Runner
from jobs.sandbox import Limits
from jobs.settings import Settings
from jobs.spec import JobSpec
from jobs.store import JobRecord, JobStore, UnknownJob

# The engine and the labels have their own modules; these names stay importable here.
__all__ = ["LABEL_SERVICE", "NO_ENGINE", "JobService", "engine_client"]

log = logging.getLogger("jobs")


class JobService:
    """See the module docstring. ``start()`` connects, recovers and starts the scheduler."""

    def __init__(
        self,
        settings: Settings,
        *,
        client_factory: Callable[[], DockerClient] = engine_client,
    ) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.data_dir / "jobs.sqlite3")
        self._client_factory = client_factory
        self.client: DockerClient | None = None
        self.engine_error: str | None = None
        self.host_paths = HostPaths(None)
        self.user = job_user(settings)
        self.service_key = ""
        self.swept: list[str] = []
        self._runners: dict[str, Runner] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._connect()
        if self.client is not None:
            self._recover()
        self._thread = threading.Thread(target=self._loop, name="jobs-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling; running containers keep running and are re-attached at next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            runner.detach()
        self.store.close()
        if self.client is not None:
            self.client.close()

    def _connect(self) -> None:
        try:
            engine = connect(self._client_factory, self.settings, self.data_dir)
        except NoEngine as exc:
            self.engine_error = str(exc)
            log.warning("%s", self.engine_error)
            return
        self.client, self.host_paths = engine.client, engine.host_paths
        self.service_key = engine.service_key

    def _recover(self) -> None:
        """Re-attach to containers that still run; mark the gone ones lost; sweep the rest."""
        assert self.client is not None
        self.swept = recover(
            self.store,
            self.client,
            self.service_key,
            lambda record, container_id: self._launch(record, attach=container_id),
        )

    # -- the API's operations -----------------------------------------------------------------

    def host(self) -> Host:
        return measure_host(self.data_dir, gpu_coord_path=self.settings.gpu_coord_path)

    def submit(self, spec: JobSpec) -> tuple[JobRecord, int | None]:
        """Validate against the settings and the host, write the files, queue the job.

        Returns the record and its queue position at that moment (the scheduler may start
        it right after).
        """
        timeout = check_limits(spec, self.settings)
        refuse_never_fits(spec.resources, self.host())
        if self.client is None:
            raise Unavailable(self.engine_error or NO_ENGINE)
        if spec.baseline is not None:
            try:
                self.store.get(spec.baseline)
            except UnknownJob:
                raise InvalidField(
                    f"baseline: no job {spec.baseline!r} to compare with", param="baseline"
                ) from None
        job_id = uuid.uuid4().hex[:16]
        folder = self.jobs_dir / job_id
        try:
            write_files(folder, spec, self.user)
            data = spec.model_dump(mode="json")
            data["timeout"] = timeout
            with self._lock:  # no scheduler pass between the insert and the position
                record = self.store.create(
                    job_id, data, name=spec.name, detail=f"accepted: image {spec.image}"
                )
                position = self.queue_position(job_id)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._wake.set()
        return record, position

    def cancel(self, job_id: str) -> JobRecord:
        """Drop a queued job, kill a running one; both recorded first."""
        with self._lock:
            record = self.get(job_id)
            if record.terminal:
                raise Conflict(f"job {job_id} already ended ({record.status}): nothing to cancel")
            if record.status == store.QUEUED:
                return self.store.transition(
                    job_id,
                    store.CANCELLED,
                    "cancelled by the client before it started",
                    finished_at=time.time(),
                )
            runner = self._runners.get(job_id)
            record = self.store.transition(
                job_id,
                store.CANCELLED,
                "cancelled by the client while running: killing the container",
                finished_at=time.time(),
            )
        if runner is not None:
            runner.cancel()
        return record

    def get(self, job_id: str) -> JobRecord:
        try:
            return self.store.get(job_id)
        except UnknownJob:
            raise NotFound(f"no job {job_id!r}") from None

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when the job is not queued."""
        queued = [r.id for r in self.store.with_status(store.QUEUED)]
        return queued.index(job_id) + 1 if job_id in queued else None

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def active(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._runners

    # -- scheduling ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.settings.poll_interval)
            self._wake.clear()
            if self._stopping.is_set() or self.client is None:
                continue
            try:
                self.schedule()
            except Exception:
                log.exception("scheduler pass failed; trying again")

    def schedule(self) -> None:
        """One pass: start every queued job that fits now, note why the others wait."""
        with self._lock:
            queued = self.store.with_status(store.QUEUED)
            if not queued:
                return
            host = self.host()
            given = Given()
            for runner in self._runners.values():
                given.add(runner.spec.resources, runner.record.device)
            for record in queued:
                spec = JobSpec.model_validate(record.spec)
                placement = place(spec.resources, host, given)
                if not placement.ok:
                    if record.reason != placement.reason:
                        self.store.update(
                            record.id, reason=placement.reason, resource_check=placement.check
                        )
                    continue
                given.add(spec.resources, placement.device)
                where = f" on GPU {placement.device}" if placement.device is not None else ""
                record = self.store.transition(
                    record.id,
                    store.RUNNING,
                    f"starting its container{where}",
                    started_at=time.time(),
                    device=placement.device,
                    reason=None,
                    resource_check=placement.check,
                )
                self._launch(record)

    def _launch(self, record: JobRecord, *, attach: str | None = None) -> None:
        assert self.client is not None
        runner = Runner(
            record,
            folder=self.folder(record.id),
            jobs=self.store,
            client=self.client,
            make_job=self._make_job,
            gpu_coord_path=self.settings.gpu_coord_path,
            on_done=self._done,
        )
        with self._lock:
            self._runners[record.id] = runner
        runner.start(attach=attach)

    def _done(self, job_id: str) -> None:
        with self._lock:
            self._runners.pop(job_id, None)
        self._wake.set()

    def _make_job(self, record: JobRecord, spec: JobSpec) -> DockerJob:
        folder = self.folder(record.id)
        resources = spec.resources
        environment = {"JOB_ID": record.id}
        mounts: dict[str, tuple[str, str]] = {}
        if spec.lease == "self" and resources.gpu:
            lease_dir = gpu.lease_folder(self.settings.gpu_coord_path)
            mounts["/gpu_coord"] = (self.host_paths(lease_dir), "rw")
            environment["GPU_COORD_PATH"] = "/gpu_coord/status.json"
            environment["JOB_GPU_DEVICE"] = str(record.device)  # the lease's index (CUDA sees 0)
        return DockerJob(
            spec.image,
            work=folder / "work",
            output=folder / "output",
            resources=self.settings.resources_dir.resolve(),
            script=spec.script,
            command=spec.command,
            result_file=spec.result_file,
            timeout=float(record.spec["timeout"]),
            limits=Limits(
                cpus=resources.cpu,
                memory_bytes=resources.ram,
                pids=self.settings.pids_limit,
                tmp_bytes=min(self.settings.tmp_size, resources.ram),
                storage_bytes=resources.storage,
            ),
            user=self.user,
            network=spec.network,
            device=record.device,
            environment=environment,
            mounts=mounts,
            labels={LABEL_ID: record.id, LABEL_SERVICE: self.service_key},
            name=f"gpu-share-job-{record.id}",
            host_path=self.host_paths,
            client=self.client,
        )
