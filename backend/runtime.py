"""The served model: loaded once, in the background, so ``/healthz`` answers during a slow load."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from backend.lease import backend_lease
from backend.memory import MemoryFigures, measure, register
from backend.settings import Settings
from gpu_coord import Resident
from imagegen import LoadedPipeline, ModelLoadError, load_pipeline

log = logging.getLogger("backend")


class ModelState(enum.StrEnum):
    """Where the model is in its life: ``loading`` -> ``ready`` or ``failed``."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


# Below this tile size (tiny test models) tiling only multiplies decoder calls; real latent
# diffusion VAEs tile at 512 px and up.
_MIN_USEFUL_TILE = 256


def bound_decode(loaded: LoadedPipeline) -> None:
    """Decode one image at a time, in tiles for large images, where the VAE can.

    The decode runs after the last step, where no step hook can stop it; slicing and tiling
    bound its memory and time by one image (one tile) rather than by the whole batch, and the
    work budget (``BACKEND_MAX_WORK``) bounds the rest.
    """
    vae = getattr(loaded.pipe, "vae", None)
    if vae is None:
        return
    if callable(getattr(vae, "enable_slicing", None)):
        vae.enable_slicing()
    tile = getattr(vae, "tile_sample_min_size", None)
    big_tiles = isinstance(tile, int) and tile >= _MIN_USEFUL_TILE
    if big_tiles and callable(getattr(vae, "enable_tiling", None)):
        vae.enable_tiling()


class ModelRuntime:
    """Loads ``settings.model`` on a background thread and holds the result.

    The load runs inside a high-priority lease: putting weights on the GPU while the benchmark
    runs a pipeline is exactly the overlap the lease exists to prevent. In the same lease the
    warm-up (:func:`backend.memory.measure`) measures the peak working memory; the backend
    then registers as a resident of its device until :meth:`close`. On failure the state is
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
        self.memory: MemoryFigures | None = None
        self._resident: Resident | None = None
        self._closed = False
        self._lock = threading.Lock()  # closing and registering do not interleave
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start loading in the background; returns at once."""
        self._thread = threading.Thread(target=self._load, name="backend-model-load", daemon=True)
        self._thread.start()

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
                bound_decode(loaded)
                memory = measure(loaded, s)
        except ModelLoadError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # any other failure is still a failed start-up, not a crash
            self._fail(f"cannot load model {s.model!r}: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            if self._closed:
                return  # the app stopped during the load: register nothing
            self._resident = register(s, memory)
        self.memory = memory
        self.loaded = loaded
        self.load_seconds = time.perf_counter() - start
        self.state = ModelState.READY
        log.info(
            "model %s ready on %s (%s) in %.2f s",
            loaded.model_id,
            loaded.device,
            loaded.dtype,
            self.load_seconds,
        )

    def close(self) -> None:
        """Unregister as resident (the app is stopping)."""
        with self._lock:
            self._closed = True
            held, self._resident = self._resident, None
        if held is not None:
            held.__exit__(None, None, None)

    def _fail(self, message: str) -> None:
        self.error = message
        self.state = ModelState.FAILED
        log.error("model load failed: %s", message)
        if self.on_failure is not None:
            self.on_failure(message)
