"""Finished jobs: kept for a time, bounded in number; blocking requests forgotten at once."""

from __future__ import annotations

import time

from backend.job import GenerationResult, Job, JobStatus
from backend.job_store import JobStore
from imagegen import GenerationRequest


def _job(*, background: bool = True) -> Job:
    return Job(GenerationRequest(prompt="x"), steps=2, background=background)


def _succeed(job: Job) -> None:
    assert job.future.set_running_or_notify_cancel()
    job.future.set_result(GenerationResult([], 0.0, 0.0, False, None))


def test_finished_jobs_are_bounded_in_number_oldest_first() -> None:
    store = JobStore(retention=60.0, history=2)
    jobs = [_job() for _ in range(4)]
    for job in jobs:
        store.add(job)
    running = jobs[3]
    for job in jobs[:3]:
        _succeed(job)
        time.sleep(0.01)  # distinct finish times
    kept = store.jobs()
    assert kept == [jobs[1], jobs[2], running]  # the oldest finished went; unfinished stay
    assert store.get(jobs[0].request_id) is None
    assert jobs[1].status is JobStatus.SUCCEEDED


def test_finished_jobs_expire_and_blocking_ones_go_at_once() -> None:
    store = JobStore(retention=0.2, history=10)
    background, blocking = _job(), _job(background=False)
    store.add(background)
    store.add(blocking)
    assert store.jobs() == [background, blocking]  # listed while they wait
    _succeed(blocking)
    assert store.jobs() == [background]
    _succeed(background)
    assert store.get(background.request_id) is background
    time.sleep(0.3)
    assert store.get(background.request_id) is None


def test_a_cancelled_queued_job_ends_with_its_last_event() -> None:
    job = _job()
    job.emit("queued", status="queued", queue_position=1)
    job.cancel()
    assert job.status is JobStatus.CANCELLED
    assert job.finished
    events = job.events_after(0)
    assert [(e.seq, e.kind) for e in events] == [(1, "queued"), (2, "cancelled")]
    assert events[-1].data["error"]["code"] == "cancelled"
    assert job.events_after(1) == events[1:]
