"""The parameters of one contention run, validated in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Shared scenarios, in the order they run: this project's lease, the same lease with
#: block checkpoints (on request: the runner also checkpoints before each top-level
#: block of the denoiser and the VAE decoder), the original scheme (JSON lease per
#: image, backend polls, 0.5 s calm pause), no coordination at all, and (on request)
#: a plain ``filelock.FileLock`` per image.
SHARED_SCHEMES = ("lease", "lease-blocks", "original", "none", "filelock")
BLOCK_SCHEME = "lease-blocks"
DEFAULT_SCHEMES = ("lease", "original", "none")
PIPELINES = ("tiny", "sd15-shaped")
AUTO_INTERVAL_FACTOR = 2.5
FLUSH_POLICIES = ("always", "on_handoff", "never")


@dataclass(frozen=True)
class ContentionConfig:
    """Everything a run needs; :meth:`check` names the first bad field.

    ``seconds`` is the measured time of each scenario, split into ``rounds``
    windows that take turns with the other scenarios'; the backend issues a
    request every ``interval`` seconds (fixed inter-arrival, open loop) and both
    roles make ``steps``-step images. ``interval=None`` picks
    ``AUTO_INTERVAL_FACTOR`` times the backend's image time alone (measured at
    start-up), so the backend keeps the device busy about 40% of the time on
    any machine. ``flush_images=0`` skips the CUDA flush probe;
    ``overhead_images`` is the images per mode of the checkpoint-overhead probe
    that runs when the ``lease-blocks`` scenario is in ``schemes``. ``pin_core``
    confines both role processes
    to one CPU core (the stand-in for one GPU, so that "no coordination" really
    time-slices one device); ``None`` leaves them free. ``keep_warm``
    runs a SCHED_IDLE busy loop on the pinned core so that it never idles.
    """

    device: str = "cpu"
    pipeline: str = "tiny"
    seconds: float = 50.0
    rounds: int = 3
    interval: float | None = None
    steps: int = 20
    runner_steps: int | None = None
    size: int | None = None
    guidance: float = 7.5
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    flush: str = "always"
    max_wait: float | None = 10.0
    pin_core: int | None = None
    keep_warm: bool = False
    models_dir: Path = field(default_factory=lambda: Path("research/models/tiny"))
    poll_readers: int = 4
    poll_rate: float = 20.0
    poll_seconds: float = 5.0
    flush_images: int = 8
    overhead_images: int = 8
    quick: bool = False

    @property
    def runner_steps_or_default(self) -> int:
        """The runner's steps per image (the backend's unless set)."""
        return self.steps if self.runner_steps is None else self.runner_steps

    def check(self) -> ContentionConfig:
        """Return self, or raise ValueError naming the field at fault."""
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device: must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.pipeline not in PIPELINES:
            raise ValueError(
                f"pipeline: must be one of {', '.join(PIPELINES)}, got {self.pipeline!r}"
            )
        if self.flush not in FLUSH_POLICIES:
            raise ValueError(
                f"flush: must be one of {', '.join(FLUSH_POLICIES)}, got {self.flush!r}"
            )
        for name in ("seconds", "interval", "poll_rate", "poll_seconds"):
            value = getattr(self, name)
            if value is None and name == "interval":
                continue
            if not value > 0:
                raise ValueError(f"{name}: must be > 0 seconds (or per second), got {value!r}")
        if self.interval is not None and self.interval > self.seconds:
            raise ValueError(
                f"interval: {self.interval} s is longer than the window "
                f"(seconds={self.seconds}): no request would be measured"
            )
        if self.flush_images < 0:
            raise ValueError(f"flush_images: must be >= 0 (0 skips it), got {self.flush_images!r}")
        for name in ("steps", "runner_steps_or_default", "overhead_images", "rounds"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(
                    f"{name.removesuffix('_or_default')}: must be at least 1, got {value!r}"
                )
        if self.poll_readers < 0:
            raise ValueError(f"poll_readers: must be >= 0, got {self.poll_readers!r}")
        if self.size is not None and (self.size < 8 or self.size % 8):
            raise ValueError(f"size: must be a positive multiple of 8, got {self.size!r}")
        if self.max_wait is not None and self.max_wait < 0:
            raise ValueError(f"max_wait: must be >= 0 seconds or None, got {self.max_wait!r}")
        unknown = [s for s in self.schemes if s not in SHARED_SCHEMES]
        if unknown or not self.schemes:
            raise ValueError(
                f"schemes: each must be one of {', '.join(SHARED_SCHEMES)}, "
                f"got {', '.join(self.schemes) or 'none'}"
            )
        if self.pin_core is not None and self.pin_core < 0:
            raise ValueError(f"pin_core: must be a CPU index >= 0, got {self.pin_core!r}")
        return self
