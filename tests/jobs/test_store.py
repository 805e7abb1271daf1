"""The records: SQLite in WAL mode, every state change an event, terminal states sticky."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobs import store
from jobs.store import JobStore, UnknownJob


def test_create_get_and_events(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "db" / "jobs.sqlite3")
    record = jobs.create(None, {"image": "img"}, name="n1", detail="accepted")
    assert record.status == store.QUEUED
    jobs.transition(record.id, store.RUNNING, "starting", started_at=1.0, device=None)
    jobs.note(record.id, "container abc started")
    jobs.transition(record.id, store.SUCCEEDED, "exit code 0", exit_code=0, result={"score": 1.0})
    done = jobs.get(record.id)
    assert done.status == store.SUCCEEDED
    assert done.result == {"score": 1.0}
    assert [(e.status, e.detail) for e in done.events] == [
        (store.QUEUED, "accepted"),
        (store.RUNNING, "starting"),
        (store.RUNNING, "container abc started"),
        (store.SUCCEEDED, "exit code 0"),
    ]
    assert done.events == sorted(done.events, key=lambda e: e.at)


def test_wal_mode_and_a_second_reader(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    jobs = JobStore(path)
    record = jobs.create(None, {"image": "img"}, name=None, detail="accepted")
    reader = sqlite3.connect(path)
    try:
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reader.execute("SELECT status FROM jobs WHERE id = ?", (record.id,)).fetchone() == (
            "queued",
        )
    finally:
        reader.close()


def test_every_change_is_on_disk_before_the_call_returns(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    jobs = JobStore(path)
    record = jobs.create(None, {"image": "img"}, name=None, detail="accepted")
    jobs.transition(record.id, store.RUNNING, "starting")
    # A fresh connection (another process, after a crash) sees it at once.
    again = JobStore(path)
    assert again.get(record.id).status == store.RUNNING
    jobs.close()
    again.close()


def test_terminal_states_are_not_overwritten(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    record = jobs.create(None, {"image": "img"}, name=None, detail="accepted")
    jobs.transition(record.id, store.CANCELLED, "cancelled by the client")
    late = jobs.transition(record.id, store.FAILED, "exit code 137", exit_code=137)
    assert late.status == store.CANCELLED
    assert late.exit_code == 137  # the figures still land on the record
    assert [e.status for e in late.events] == [store.QUEUED, store.CANCELLED]
    # The worker's own end of a cancelled job is a line of its history.
    ended = jobs.transition(record.id, store.CANCELLED, "container killed", run_seconds=1.5)
    assert ended.run_seconds == 1.5
    assert [e.detail for e in ended.events][-2:] == ["cancelled by the client", "container killed"]


def test_unknown_jobs_and_fields(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    with pytest.raises(UnknownJob):
        jobs.get("nope")
    with pytest.raises(UnknownJob):
        jobs.transition("nope", store.RUNNING)
    record = jobs.create(None, {"image": "img"}, name=None, detail="accepted")
    with pytest.raises(ValueError, match="not job fields"):
        jobs.update(record.id, status="succeeded")
    with pytest.raises(ValueError, match="unknown status"):
        jobs.transition(record.id, "done")


def test_page_and_queue_order(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    ids = [jobs.create(None, {"image": "img"}, name=f"n{i % 2}", detail="a").id for i in range(5)]
    jobs.transition(ids[1], store.RUNNING, "starting")
    records, total = jobs.page(limit=2, offset=1)
    assert total == 5
    assert [r.id for r in records] == [ids[3], ids[2]]
    assert [r.id for r in jobs.with_status(store.QUEUED)] == [ids[0], ids[2], ids[3], ids[4]]
    named, count = jobs.page(name="n1", status=store.QUEUED)
    assert (count, [r.id for r in named]) == (1, [ids[3]])


def test_service_events(tmp_path: Path) -> None:
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    jobs.service_event("sweep", "removed leftover containers: abc")
    assert [e.detail for e in jobs.service_events("sweep")] == ["removed leftover containers: abc"]


def test_a_database_from_before_storage_used_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
        " name TEXT, status TEXT NOT NULL, spec TEXT NOT NULL, created_at REAL NOT NULL,"
        " updated_at REAL NOT NULL, started_at REAL, finished_at REAL, container_id TEXT,"
        " device INTEGER, exit_code INTEGER, oom_killed INTEGER, run_seconds REAL,"
        " paused_seconds REAL NOT NULL DEFAULT 0, freezes INTEGER NOT NULL DEFAULT 0,"
        " result TEXT, result_error TEXT, reason TEXT, resource_check TEXT);"
        "INSERT INTO jobs (id, status, spec, created_at, updated_at)"
        " VALUES ('old', 'succeeded', '{\"image\": \"img\"}', 1.0, 2.0);"
    )
    old.close()
    jobs = JobStore(path)
    assert jobs.get("old").storage_used is None  # kept, with the new column empty
    assert jobs.update("old", storage_used=4096).storage_used == 4096
    jobs.close()
    again = JobStore(path)  # opened again: nothing to add
    assert again.get("old").storage_used == 4096
    again.close()
