"""The labels every job container carries, and the sweep of the ones nobody owns any more.

A service that died before removing its containers finds them again at its next start by
these labels (``gpu-share.jobs``; the job's id; the service's key, since one engine may serve
several job services) and removes whatever it does not re-attach to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import docker.errors
from docker.client import DockerClient
from docker.models.containers import Container

LABEL = "gpu-share.jobs"
LABEL_ID = "gpu-share.jobs.id"
LABEL_SERVICE = "gpu-share.jobs.service"


def sweep(
    client: DockerClient,
    keep: Callable[[Container], bool],
    *,
    filters: dict[str, Any] | None = None,
) -> list[str]:
    """Remove every labelled container ``keep`` does not claim; returns what was removed.

    ``filters`` narrows the search (the engine's label filters); every container found carries
    the ``gpu-share.jobs`` label in any case.
    """
    removed = []
    for container in client.containers.list(
        all=True, filters=filters or {"label": LABEL}, ignore_removed=True
    ):
        if LABEL not in container.labels:
            continue
        if keep(container):
            continue
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
        job = container.labels.get(LABEL_ID, "?")
        removed.append(f"{container.short_id} (job {job}, {container.status})")
    return removed
