"""The SSE text of a job's events, and where a reconnect resumes."""

from __future__ import annotations

import asyncio
import threading

from backend.job import Job
from backend.sse import format_event, job_events, nothing_left, resume_point
from imagegen import GenerationRequest


def test_an_event_is_id_event_and_one_data_line() -> None:
    job = Job(GenerationRequest(prompt="x"), steps=2)
    job.emit("step", status="running", step=1, steps=2, note="two\nlines")
    text = format_event(job, job.events_after(0)[0])
    assert text.startswith("id: 1\nevent: step\ndata: {")
    assert text.endswith("}\n\n")
    assert text.count("\n") == 4  # JSON escapes the newline: one data line


def test_resume_point_takes_only_our_numbers() -> None:
    assert resume_point(None) == 0
    assert resume_point(" 12 ") == 12
    for bad in ("", "abc", "-3", "١٢", "9" * 40):
        assert resume_point(bad) == 0, bad


def test_the_stream_follows_a_job_from_another_thread_and_ends_after_its_last_event() -> None:
    job = Job(GenerationRequest(prompt="x"), steps=2)
    job.emit("queued", status="queued", queue_position=1)

    def worker() -> None:  # what the GPU thread does, from its own thread
        assert job.future.set_running_or_notify_cancel()
        job.set_running()
        for step in (1, 2):
            job.emit("step", status="running", step=step, steps=2)
        job.future.set_exception(RuntimeError("boom"))

    async def read() -> list[str]:
        chunks = []
        async for chunk in job_events(job, keepalive=0.05):
            chunks.append(chunk)
            if len(chunks) == 2:  # retry line and the replayed "queued": now go live
                threading.Thread(target=worker).start()
        return chunks

    chunks = asyncio.run(asyncio.wait_for(read(), 30))
    text = "".join(chunks)
    assert chunks[0] == "retry: 2000\n\n"
    kinds = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert kinds == ["queued", "running", "step", "step", "failed"]
    assert '"code":"generation_failed"' in text
    assert nothing_left(job, job.last_seq)
    assert not nothing_left(job, 0)
