"""The job records: SQLite in WAL mode, one row per job and one per state change.

Every state change is written (and committed) before the service acts on it, so whatever
happens next (a crash, a kill, a restart) the record says what was about to happen. Readers
(the API) and the scheduler share one connection behind a lock; WAL lets the CLI or a second
reader look at the file while the service writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jobs.records import (
    ACTIVE,
    CANCELLED,
    FAILED,
    LOST,
    OOM_KILLED,
    PAUSED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TERMINAL,
    TIMED_OUT,
    Event,
    JobRecord,
    UnknownJob,
)

# The statuses and the record types live in jobs.records; they stay importable from here.
__all__ = [
    "ACTIVE",
    "CANCELLED",
    "FAILED",
    "LOST",
    "OOM_KILLED",
    "PAUSED",
    "QUEUED",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "TERMINAL",
    "TIMED_OUT",
    "Event",
    "JobRecord",
    "JobStore",
    "UnknownJob",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    container_id TEXT,
    device INTEGER,
    exit_code INTEGER,
    oom_killed INTEGER,
    run_seconds REAL,
    paused_seconds REAL NOT NULL DEFAULT 0,
    freezes INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    result_error TEXT,
    reason TEXT,
    resource_check TEXT,
    storage_used INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE INDEX IF NOT EXISTS jobs_name ON jobs (name);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs (id),
    at REAL NOT NULL,
    status TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id);
CREATE TABLE IF NOT EXISTS service_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
_JSON_COLUMNS = {"spec", "result", "resource_check"}
_UPDATABLE = {
    "started_at",
    "finished_at",
    "container_id",
    "device",
    "exit_code",
    "oom_killed",
    "run_seconds",
    "paused_seconds",
    "freezes",
    "result",
    "result_error",
    "reason",
    "resource_check",
    "storage_used",
}
# Columns added after the first release: (name, type) added to an older database on open.
_ADDED_COLUMNS = (("storage_used", "INTEGER"),)


class JobStore:
    """The records in ``path`` (created with its folder when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        have = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def create(
        self, job_id: str | None, spec: dict[str, Any], *, name: str | None, detail: str
    ) -> JobRecord:
        """A new queued job (``job_id`` None: a fresh one); its first event says it was accepted."""
        job_id = job_id or uuid.uuid4().hex[:16]
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, name, status, spec, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, name, QUEUED, json.dumps(spec), now, now),
            )
            _event(db, job_id, now, QUEUED, detail)
        return self.get(job_id)

    def transition(
        self, job_id: str, status: str, detail: str | None = None, **fields: Any
    ) -> JobRecord:
        """Move a job to ``status`` (an event with ``detail``) and set ``fields``, atomically.

        A job already in a terminal status stays there (a late worker never overwrites a
        cancel); its fields still land, and its ``detail`` is recorded as an event only when
        it is that same status (the container's end after a cancel).
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        now = time.time()
        with self._tx() as db:
            current = self._status(db, job_id)
            if current in TERMINAL:
                if status == current and detail:
                    _event(db, job_id, now, status, detail)
                self._set(db, job_id, now, fields)
                return self.get(job_id)
            _event(db, job_id, now, status, detail)
            db.execute("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))
            self._set(db, job_id, now, fields)
        return self.get(job_id)

    def update(self, job_id: str, **fields: Any) -> JobRecord:
        """Set ``fields`` without a state change (a wait reason, a container id, a result)."""
        with self._tx() as db:
            self._status(db, job_id)
            self._set(db, job_id, time.time(), fields)
        return self.get(job_id)

    def note(self, job_id: str, detail: str) -> None:
        """An event in the job's current status (a re-attach, a freeze)."""
        with self._tx() as db:
            status = self._status(db, job_id)
            _event(db, job_id, time.time(), status, detail)

    def get(self, job_id: str) -> JobRecord:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise UnknownJob(job_id)
            events = self._db.execute(
                "SELECT at, status, detail FROM events WHERE job_id = ? ORDER BY id", (job_id,)
            ).fetchall()
        return _record(row, [Event(e["at"], e["status"], e["detail"]) for e in events])

    def page(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[JobRecord], int]:
        """Jobs newest first (without their events) and how many match in all."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if name is not None:
            where.append("name = ?")
            args.append(name)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM jobs{clause}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM jobs{clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [_record(row, []) for row in rows], int(total)

    def with_status(self, *statuses: str) -> list[JobRecord]:
        """Jobs in any of ``statuses``, oldest first (queue order)."""
        marks = ", ".join("?" for _ in statuses)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY seq", statuses
            ).fetchall()
        return [_record(row, []) for row in rows]

    def service_event(self, kind: str, detail: str) -> None:
        """Something the service did on its own (a sweep at start), kept for the record."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO service_events (at, kind, detail) VALUES (?, ?, ?)",
                (time.time(), kind, detail),
            )

    def service_events(self, kind: str | None = None) -> list[Event]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, kind, detail FROM service_events"
                + (" WHERE kind = ?" if kind else "")
                + " ORDER BY id",
                (kind,) if kind else (),
            ).fetchall()
        return [Event(r["at"], r["kind"], r["detail"]) for r in rows]

    @staticmethod
    def _status(db: sqlite3.Connection, job_id: str) -> str:
        row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJob(job_id)
        return str(row[0])

    @staticmethod
    def _set(db: sqlite3.Connection, job_id: str, now: float, fields: dict[str, Any]) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not job fields: {sorted(unknown)}")
        columns = ["updated_at = ?"]
        values: list[Any] = [now]
        for key, value in fields.items():
            columns.append(f"{key} = ?")
            values.append(json.dumps(value) if key in _JSON_COLUMNS else value)
        db.execute(f"UPDATE jobs SET {', '.join(columns)} WHERE id = ?", [*values, job_id])


def _event(db: sqlite3.Connection, job_id: str, at: float, status: str, detail: str | None) -> None:
    db.execute(
        "INSERT INTO events (job_id, at, status, detail) VALUES (?, ?, ?, ?)",
        (job_id, at, status, detail),
    )


def _record(row: sqlite3.Row, events: list[Event]) -> JobRecord:
    data = dict(row)
    for key in _JSON_COLUMNS:
        if data.get(key) is not None:
            data[key] = json.loads(data[key])
    if data["oom_killed"] is not None:
        data["oom_killed"] = bool(data["oom_killed"])
    return JobRecord(**data, events=events)
