"""``python -m backend``: serve on ``BACKEND_HOST``:``BACKEND_PORT`` with uvicorn.

SIGTERM fails the queued generations with 503 and lets the running one finish within
``BACKEND_SHUTDOWN_GRACE`` seconds. Exits non-zero, with a message naming the model and the
reason, when the model cannot be loaded or the settings are invalid.
"""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from backend.app import create_app
from backend.server import BackendServer, make_server
from backend.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Run the service until interrupted; return the process exit status."""
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"backend: invalid settings (BACKEND_* environment):\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    failure: list[str] = []
    server: BackendServer | None = None

    def on_load_failure(message: str) -> None:
        failure.append(message)
        if server is not None:
            server.should_exit = True  # uvicorn polls this; the serve loop then shuts down

    app = create_app(settings, on_load_failure=on_load_failure)
    server = make_server(app)
    if failure:  # the load can in principle fail before the server object exists
        server.should_exit = True
    server.run()
    if failure:
        print(f"backend: start-up failed: {failure[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
