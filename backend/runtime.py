"""The served model: loaded once, in the background, so ``/healthz`` answers during a slow load."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from backend.gpu_status import backend_lease
from backend.settings import Settings
from imagegen import LoadedPipeline, ModelLoadError, load_pipeline

log = logging.getLogger("backend")


class ModelState(enum.StrEnum):
    """Where the model is in its life: ``loading`` -> ``ready`` or ``failed``."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class ModelRuntime:
    """Loads ``settings.model`` on a background thread and holds the result.

    The load runs inside a high-priority lease: putting weights on the GPU while the benchmark
    runs a pipeline is exactly the overlap the lease exists to prevent. On failure the state is
    ``failed``, :attr:`error` names the model and the reason, and ``on_failure`` is called (the
    command line uses it to stop the server and exit non-zero).
    """

    def __init__(self, settings: Settings, on_failure: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.on_failure = on_failure
        self.state = ModelState.LOADING
        self.loaded: LoadedPipeline | None = None
        self.error: str | None = None
        self.load_seconds: float | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start loading in the background; returns at once."""
        self._thread = threading.Thread(target=self._load, name="backend-model-load", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the load finished (either way); ``False`` if ``timeout`` passed first."""
        return self._done.wait(timeout)

    @property
    def ready(self) -> bool:
        return self.state is ModelState.READY

    def _load(self) -> None:
        s = self.settings
        log.info("loading model %s (device=%s, dtype=%s)", s.model, s.device, s.dtype)
        start = time.perf_counter()
        try:
            with backend_lease(s):
                loaded = load_pipeline(s.model, device=s.device, dtype=s.dtype)
        except ModelLoadError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # any other failure is still a failed start-up, not a crash
            self._fail(f"cannot load model {s.model!r}: {type(exc).__name__}: {exc}")
            return
        # A per-request progress bar on stderr is noise in a service log; the worker logs timings.
        set_progress = getattr(loaded.pipe, "set_progress_bar_config", None)
        if callable(set_progress):
            set_progress(disable=True)
        self.loaded = loaded
        self.load_seconds = time.perf_counter() - start
        self.state = ModelState.READY
        self._done.set()
        log.info(
            "model %s ready on %s (%s) in %.2f s",
            loaded.model_id,
            loaded.device,
            loaded.dtype,
            self.load_seconds,
        )

    def _fail(self, message: str) -> None:
        self.error = message
        self.state = ModelState.FAILED
        self._done.set()
        log.error("model load failed: %s", message)
        if self.on_failure is not None:
            self.on_failure(message)
