"""Serve the app with uvicorn on ``JOBS_HOST``:``JOBS_PORT``."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from jobs.app import create_app
from jobs.settings import Settings


def serve() -> int:
    """Run until interrupted; 2 on invalid settings."""
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"jobs: invalid settings (JOBS_* environment):\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0
