"""One job's run: the container, the GPU hold around it, and the record of how it ended."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
import requests
from docker.client import DockerClient

import gpu_coord
from jobs import gpu, store
from jobs.docker_job import Detached, DockerJob, Outcome
from jobs.spec import JobSpec
from jobs.storage import disk_usage
from jobs.store import JobRecord, JobStore

log = logging.getLogger("jobs.runner")


class Runner:
    """Runs (or, after a restart, re-attaches to) one job's container in a thread of its own."""

    def __init__(
        self,
        record: JobRecord,
        *,
        folder: Path,
        jobs: JobStore,
        client: DockerClient,
        make_job: Callable[[JobRecord, JobSpec], DockerJob],
        gpu_coord_path: Path | None,
        on_done: Callable[[str], None],
    ) -> None:
        self.record = record
        self.folder = folder
        self.spec = JobSpec.model_validate(record.spec)
        self.jobs = jobs
        self.client = client
        self.make_job = make_job
        self.gpu_coord_path = gpu_coord_path
        self.on_done = on_done
        self.job: DockerJob | None = None
        self.cancelled = threading.Event()
        self.detached = threading.Event()
        self._thread: threading.Thread | None = None
        self._freezes = 0
        self._storage_used: int | None = None
        # The hold may freeze the job before its container has started: the start then waits
        # for the thaw, so the container never runs while the lease is someone else's.
        self._gate = threading.Condition()
        self._frozen = False
        self._started = False

    @property
    def id(self) -> str:
        return self.record.id

    def start(self, *, attach: str | None = None) -> None:
        target = self._attach if attach else self._run
        args = (attach,) if attach else ()
        self._thread = threading.Thread(
            target=target, args=args, name=f"job-{self.id}", daemon=True
        )
        self._thread.start()

    def cancel(self) -> None:
        """Kill the container (the cancel is already recorded)."""
        self.cancelled.set()
        if self.job is not None:
            self.job.kill()

    def detach(self, timeout: float = 10.0) -> None:
        """Stop watching without touching the container (service shutdown: re-attached later)."""
        self.detached.set()
        if self.job is not None:
            self.job.detach()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the run ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            job = self.make_job(self.record, self.spec)
            job.on_storage = self._record_storage
            self.job = job
            container_id = job.create()
            # Recorded before the start: a restart then finds (and re-attaches to) it.
            self.jobs.update(self.id, container_id=container_id)
            with self._gpu(job):
                with self._gate:
                    while self._frozen and not self.cancelled.is_set():
                        self._gate.wait(0.5)
                    if self.cancelled.is_set():
                        return
                    job.start()
                    self._started = True
                self.jobs.note(self.id, f"container {container_id[:12]} started")
                outcome = job.wait()
            job.remove()  # gone before the record says it ended
            self._finish(outcome)
        except gpu_coord.LeaseCancelled:
            # The cancel is recorded; the job's place in the lease queue and its resources
            # are given back now rather than at a grant it no longer wants.
            self.jobs.note(self.id, "left the wait for the GPU lease: the container never ran")
        except Detached:
            return
        except docker.errors.ImageNotFound as exc:
            self._fail(
                f"image {self.spec.image!r} is not on the engine: build or load it on the host "
                f"first ({exc.explanation or exc})"
            )
        except (docker.errors.APIError, requests.exceptions.RequestException, OSError) as exc:
            self._fail(f"the engine refused the container: {exc}")
        except Exception as exc:  # the record must say why, whatever it was
            log.exception("job %s", self.id)
            self._fail(f"internal error while running the job: {type(exc).__name__}: {exc}")
        finally:
            if self.job is not None:
                self.job.remove()  # a no-op for one detached while it runs
            self.on_done(self.id)

    def _attach(self, container_id: str) -> None:
        try:
            record = self.record
            job = DockerJob.attach(
                container_id,
                output=self.output,
                result_file=self.spec.result_file,
                timeout=float(record.spec["timeout"]),
                started_at=record.started_at or time.time(),
                paused_seconds=record.paused_seconds,
                storage_bytes=self.spec.resources.storage,
                client=self.client,
            )
            job.on_storage = self._record_storage
            self.job = job
            self._started = True
            manager_gpu = bool(self.spec.resources.gpu) and self.spec.lease == "manager"
            if manager_gpu and not job.paused_now:
                # Its lease died with the old service: freeze it until the lease is ours again.
                self.jobs.transition(
                    self.id, store.PAUSED, "frozen until its lease is taken again after a restart"
                )
                job.pause()
            try:
                with self._gpu(job):
                    if job.paused_now and not self._frozen:
                        # Frozen work never outlives its holder: thaw once a hold is in place
                        # (at once for a CPU job, when the lease is granted for a manager job).
                        self.jobs.transition(self.id, store.RUNNING, "thawed after the restart")
                        job.unpause()
                    outcome = job.wait()
            except gpu_coord.LeaseCancelled:
                outcome = job.wait()  # cancelled while waiting for its lease: killed, ended
            job.remove()  # gone before the record says it ended
            self._finish(outcome)
        except Detached:
            return
        except docker.errors.NotFound:
            self.jobs.transition(
                self.id,
                store.LOST,
                f"container {container_id[:12]} vanished during re-attach",
                finished_at=time.time(),
            )
        except Exception as exc:
            log.exception("job %s (re-attach)", self.id)
            self._fail(f"internal error while re-attached: {type(exc).__name__}: {exc}")
        finally:
            if self.job is not None:
                self.job.remove()  # a no-op for one detached while it runs
            self.on_done(self.id)

    @property
    def output(self) -> Path:
        return self.folder / "output"

    @contextlib.contextmanager
    def _gpu(self, job: DockerJob) -> Any:
        resources = self.spec.resources
        device = self.record.device
        if not resources.gpu or device is None:
            yield None
            return
        owner = f"jobs:{self.id}"
        if self.spec.lease == "self":
            with gpu.resident_for(
                owner, device=device, path=self.gpu_coord_path, memory_bytes=resources.gpu_memory
            ):
                yield None
            return
        self.jobs.note(self.id, f"waiting for a low-priority lease on GPU {device}")
        with gpu.manager_hold(
            owner,
            device=device,
            path=self.gpu_coord_path,
            freeze=self._freeze,
            thaw=self._thaw,
            memory_bytes=resources.gpu_memory,
            cancel=self.cancelled,
        ) as held:
            self.jobs.note(self.id, f"holding the low-priority lease on GPU {device}")
            yield held

    def _freeze(self) -> None:
        # Called by the hold's watcher thread when a high-priority caller asks.
        with self._gate:
            self._frozen = True
            self._freezes += 1
            if not self._started or self.job is None:
                self.jobs.note(self.id, "the backend asked for the GPU before the start: waiting")
                return
            self.jobs.transition(
                self.id,
                store.PAUSED,
                "frozen: the backend asked for the GPU; lease handed over",
                freezes=self._freezes,
            )
            self.job.pause()

    def _thaw(self) -> None:
        with self._gate:
            self._frozen = False
            self._gate.notify_all()
            if not self._started or self.job is None:
                return
            self.jobs.transition(
                self.id,
                store.RUNNING,
                "thawed: the lease is back",
                paused_seconds=round(self.job.paused_seconds, 3),
            )
            self.job.unpause()

    # -- the record ---------------------------------------------------------------------------

    def _record_storage(self, used: int) -> None:
        # From the container's watch, every few seconds: written only when it changed.
        if used == self._storage_used:
            return
        self._storage_used = used
        try:
            self.jobs.update(self.id, storage_used=used)
        except sqlite3.Error as exc:  # a figure shown while it runs: never worth the job
            log.warning("job %s: could not record its storage use: %s", self.id, exc)

    def _finish(self, outcome: Outcome) -> None:
        if self.detached.is_set():
            return
        fields: dict[str, Any] = {
            "exit_code": outcome.exit_code,
            "oom_killed": outcome.oom_killed,
            "run_seconds": round(outcome.run_seconds, 3),
            "paused_seconds": round(outcome.paused_seconds, 3),
            "result": outcome.result,
            "result_error": outcome.result_error,
            "finished_at": time.time(),
            "freezes": self._freezes,
        }
        storage = self.spec.resources.storage
        used = disk_usage([self.folder / "work", self.output])
        fields["storage_used"] = used
        note = ""
        if used > storage and outcome.over_storage_bytes is None:
            # Written after the last measure: it ended before the watch saw it.
            note = f"; its files ({used} bytes) are over its storage ({storage} bytes)"
        if self.cancelled.is_set() or outcome.killed:
            self.jobs.transition(self.id, store.CANCELLED, "container killed" + note, **fields)
        elif outcome.timed_out:
            limit = self.record.spec["timeout"]
            self.jobs.transition(
                self.id,
                store.TIMED_OUT,
                f"killed after its {limit:g} s timeout" + note,
                reason=f"ran past its timeout of {limit:g} s",
                **fields,
            )
        elif outcome.over_storage_bytes is not None:
            over = outcome.over_storage_bytes
            self.jobs.transition(
                self.id,
                store.FAILED,
                f"killed: its files took {over} bytes, over its storage ({storage} bytes)",
                reason=f"out of storage: its files passed its storage limit ({storage} bytes)",
                **fields,
            )
        elif outcome.oom_killed:
            ram = self.spec.resources.ram
            self.jobs.transition(
                self.id,
                store.OOM_KILLED,
                f"killed by the kernel: past its {ram} bytes of RAM",
                reason=f"out of memory: the job passed its RAM limit ({ram} bytes)",
                **fields,
            )
        elif outcome.exit_code == 0:
            self.jobs.transition(self.id, store.SUCCEEDED, "exit code 0" + note, **fields)
        else:
            self.jobs.transition(
                self.id,
                store.FAILED,
                f"exit code {outcome.exit_code}" + note,
                reason=f"the job exited with code {outcome.exit_code}",
                **fields,
            )

    def _fail(self, reason: str) -> None:
        if self.detached.is_set():
            return
        self.jobs.transition(self.id, store.FAILED, reason, reason=reason, finished_at=time.time())
