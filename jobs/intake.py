"""What happens to a request before it is queued: the service's limits, the job's folder."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.errors import InvalidField
from jobs.settings import Settings
from jobs.spec import JobSpec


def check_limits(spec: JobSpec, settings: Settings) -> float:
    """Refuse what the service's settings do not allow; returns the job's timeout."""
    if len(spec.files) > settings.max_files:
        raise InvalidField(
            f"files: {len(spec.files)} files given, the limit is {settings.max_files}",
            param="files",
        )
    total = 0
    for index, item in enumerate(spec.files):
        size = len(item.data())
        total += size
        if size > settings.max_file_bytes:
            raise InvalidField(
                f"files.{index} ({item.path!r}): {size} bytes, the limit per file is "
                f"{settings.max_file_bytes}",
                param=f"files.{index}.content",
            )
    if total > settings.max_files_bytes:
        raise InvalidField(
            f"files: {total} bytes in all, the limit is {settings.max_files_bytes}",
            param="files",
        )
    timeout = spec.timeout if spec.timeout is not None else settings.default_timeout
    if timeout > settings.max_timeout:
        raise InvalidField(
            f"timeout: {timeout:g} s requested, this service allows at most "
            f"{settings.max_timeout:g} s",
            param="timeout",
        )
    if spec.network and not settings.allow_network:
        raise InvalidField(
            "network: this service runs jobs without a network (JOBS_ALLOW_NETWORK is off)",
            param="network",
        )
    return timeout


def job_user(settings: Settings) -> str:
    """The ``uid:gid`` jobs run as: the setting, else the service's own user (never root)."""
    if settings.job_user:
        return settings.job_user
    if os.getuid() != 0:
        return f"{os.getuid()}:{os.getgid()}"
    return "65534:65534"


def write_files(folder: Path, spec: JobSpec, user: str) -> None:
    """The job's folder: ``work`` with the request's files, an empty ``output``."""
    work, output = folder / "work", folder / "output"
    work.mkdir(parents=True)
    output.mkdir()
    for index, item in enumerate(spec.files):
        target = work / item.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.data())
        except OSError as exc:
            # "a" as a file and "a/b": the second cannot be written.
            raise InvalidField(
                f"files.{index} ({item.path!r}) cannot be written: {exc.strerror or exc} "
                "(another file has that name as a folder, or the reverse)",
                param=f"files.{index}.path",
            ) from None
    if os.getuid() == 0:
        # The job runs as a non-root user: hand it its two writable folders.
        uid, _, gid = user.partition(":")
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, int(uid), int(gid or uid))
