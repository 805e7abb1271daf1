"""What a job's container leaves in its output folder: the log, kept current, and the result.

The log is copied from the engine into ``job.log`` as it comes, so the file is readable while
the job runs, and completed from the engine's full log once the container has stopped. The
result file is read back as JSON, within a size bound; what is wrong with it is said, not
raised (a job that wrote no result still has an outcome).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import docker.errors
import requests
from docker.models.containers import Container

log = logging.getLogger("jobs.docker")

LOG_NAME = "job.log"
MAX_RESULT_BYTES = 4 * 1024**2


def start_log_pump(container: Container, log_path: Path) -> threading.Thread:
    """A daemon thread that follows the container's log into ``log_path`` until it ends."""
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def pump() -> None:
        # The engine keeps the whole log; following from the start and writing each chunk
        # as it arrives makes the file readable while the job runs, also after a re-attach.
        try:
            stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)
            with open(log_path, "wb") as sink:
                for chunk in stream:
                    sink.write(chunk)
                    sink.flush()
        except (requests.exceptions.RequestException, docker.errors.APIError) as exc:
            log.debug("log stream of %s ended: %s", container.id, exc)

    thread = threading.Thread(target=pump, name=f"logs-{container.short_id}", daemon=True)
    thread.start()
    return thread


def complete_log(container: Container, log_path: Path) -> None:
    """Rewrite ``log_path`` from the engine's full log when the pump's copy came up short."""
    # A follow stream opened as a short container exits can end before the engine has
    # logged its last lines; once it has stopped, the engine's log is complete.
    try:
        full = container.logs(stdout=True, stderr=True, stream=False)
    except (requests.exceptions.RequestException, docker.errors.APIError):
        return
    written = log_path.stat().st_size if log_path.exists() else 0
    if isinstance(full, bytes) and len(full) > written:
        log_path.write_bytes(full)


def read_result(output: Path, result_file: str) -> tuple[Any, str | None]:
    """The JSON in ``output/result_file``, or None and why it could not be read."""
    path = output / result_file
    if not path.is_file():
        return None, f"the job wrote no {result_file} in its output folder"
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        return None, f"{result_file} is {size} bytes, over {MAX_RESULT_BYTES}: not read"
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{result_file} is not JSON: {exc}"
