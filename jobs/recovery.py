"""After a service restart: re-attach to the jobs' containers, requeue or lose the rest, sweep.

Every job the store says is running or paused is looked up by its container id (or, when the
service died before recording one, by its job label). A container that still runs is handed
back to a runner; one only created goes back to the queue; a job with none is marked lost.
Labelled containers of this service that no job claims are then removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import docker.errors
from docker.client import DockerClient

from jobs import store
from jobs.leftovers import LABEL, LABEL_ID, LABEL_SERVICE, sweep
from jobs.store import JobRecord, JobStore

log = logging.getLogger("jobs")


def recover(
    jobs: JobStore,
    client: DockerClient,
    service_key: str,
    launch: Callable[[JobRecord, str], None],
) -> list[str]:
    """Re-attach (``launch(record, container_id)``), mark lost, sweep; returns what was swept."""
    keep: set[str] = set()
    for record in jobs.with_status(*store.ACTIVE):
        found = container_of(client, record)
        if found is None:
            jobs.transition(
                record.id,
                store.LOST,
                "lost: after a service restart no container of this job exists (it was "
                "removed while the service was down)",
                reason="the container was gone when the service restarted",
                finished_at=time.time(),
            )
            continue
        if found.status == "created":
            found.remove(force=True)
            jobs.transition(
                record.id,
                store.QUEUED,
                "back in the queue: the service stopped before its container started",
            )
            continue
        keep.add(str(found.id))
        jobs.note(
            record.id,
            f"re-attached to container {found.short_id} ({found.status}) after a service restart",
        )
        launch(record, str(found.id))
    filters = {"label": [LABEL, f"{LABEL_SERVICE}={service_key}"]}
    swept = sweep(client, lambda c: c.id in keep, filters=filters)
    detail = (
        "removed leftover containers: " + ", ".join(swept) if swept else "no leftover containers"
    )
    jobs.service_event("sweep", detail)
    log.info("start-up sweep: %s", detail)
    return swept


def container_of(client: DockerClient, record: JobRecord) -> Any:
    """The job's container (by its recorded id, else by its label), or None when gone."""
    if record.container_id:
        try:
            return client.containers.get(record.container_id)
        except docker.errors.NotFound:
            return None
    found = client.containers.list(
        all=True, filters={"label": f"{LABEL_ID}={record.id}"}, ignore_removed=True
    )
    return found[0] if found else None
