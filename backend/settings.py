"""The backend's settings: one validated object read from ``BACKEND_*`` environment variables.

The lease record's location is not a backend setting: ``gpu_coord`` reads ``GPU_COORD_PATH``
itself. ``BACKEND_GPU_COORD_PATH`` exists only to point one app at another record (tests run
several apps in one process, each with its own folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

FlushPolicy = Literal["always", "on_handoff", "never"]

# Pixel-steps (width x height x n x (steps + 10 for the VAE decode)) per request, by device.
_DEFAULT_WORK = {
    "cuda": 1024 * 1024 * 4 * (50 + 10),
    "mps": 1024 * 1024 * (30 + 10),
    "cpu": 512 * 512 * (30 + 10),
}


class Settings(BaseSettings):
    """Everything the backend reads from its environment, validated at start-up.

    Each field ``x`` comes from ``BACKEND_X`` (case-insensitive) or from a ``.env`` file in the
    working directory. Invalid values fail start-up with a message naming the variable.
    """

    model_config = SettingsConfigDict(
        env_prefix="BACKEND_", env_file=".env", extra="ignore", validate_default=True
    )

    # What is served.
    model: str = "research/models/tiny/tiny-sd"
    model_name: str | None = None
    device: str | None = None
    dtype: str | None = None

    # Where it listens.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = None
    api_key: SecretStr | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # The lease.
    max_wait: Annotated[float | None, NoDecode] = 10.0
    flush: FlushPolicy = "always"
    gpu_coord_path: Path | None = None
    gpu_device: int | None = Field(default=None, ge=0)

    # The queue and its limits.
    queue_size: int = Field(default=16, ge=1)
    request_timeout: float = Field(default=300.0, gt=0)
    max_n: int = Field(default=4, ge=1)
    max_prompt_chars: int = Field(default=4000, ge=1)
    min_size: int = Field(default=64, ge=8)
    max_size: int = Field(default=1024, ge=8)
    max_pixels: int = Field(default=1024 * 1024, ge=64)
    max_steps: int = Field(default=100, ge=1)
    # Pixel-steps (width x height x n x (steps + 10)) one request may ask for; unset: by device.
    max_work: int | None = Field(default=None, ge=1)

    # Background jobs (POST /v1/images/jobs): how long a finished one stays readable, and how
    # many finished ones are kept at most (each keeps its images until it goes).
    job_retention: float = Field(default=900.0, gt=0)
    job_history: int = Field(default=64, ge=1)

    # One warm-up generation at the largest size allowed, before /readyz turns 200: it measures
    # the peak working memory the backend registers as headroom. Unset (or "auto"): on CUDA only.
    warmup: bool | None = None

    # Slow or oversized clients, and shutting down.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    read_timeout: float = Field(default=30.0, gt=0)
    shutdown_grace: float = Field(default=30.0, ge=0)
    # Put /gpu-status, /metrics and the API docs behind the key as well (they reveal the host
    # name, holder PIDs and owners, the model's path).
    protect_status: bool = False

    # Stored images for response_format=url.
    image_dir: Path = Path(".run/backend-images")
    image_retention: int = Field(default=256, ge=1)

    @field_validator("max_wait", mode="before")
    @classmethod
    def _parse_max_wait(cls, value: object) -> object:
        # "none" (any case) or an empty string means: wait for the lease however long it takes.
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in {"", "none", "null", "inf", "infinite"}:
                return None
            return float(text)
        return value

    @field_validator("max_wait")
    @classmethod
    def _max_wait_non_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("max_wait must be >= 0 seconds or 'none'")
        return value

    @field_validator("warmup", mode="before")
    @classmethod
    def _auto_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "auto"}:
            return None
        return value

    @field_validator("max_work", mode="before")
    @classmethod
    def _empty_is_by_device(cls, value: object) -> object:
        # BACKEND_MAX_WORK= (set but empty, as compose passes an unset variable) means unset.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("min_size", "max_size")
    @classmethod
    def _multiple_of_8(cls, value: int) -> int:
        if value % 8:
            raise ValueError("image side limits must be multiples of 8")
        return value

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_no_key(cls, value: SecretStr | None) -> SecretStr | None:
        # BACKEND_API_KEY= (set but empty) in a compose file means "no key", not "the empty key".
        if value is not None and not value.get_secret_value():
            return None
        return value

    @model_validator(mode="after")
    def _sizes_consistent(self) -> Settings:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) exceeds max_size ({self.max_size})")
        return self

    def work_budget(self, device: str) -> int:
        """The pixel-step budget per request on torch ``device``: ``max_work``, else by kind.

        The defaults keep one request within minutes on the device: on CUDA four 1024x1024
        images at 50 steps; on MPS one at 30; on the CPU one 512x512 image at 30 steps.
        """
        if self.max_work is not None:
            return self.max_work
        return _DEFAULT_WORK.get(device.partition(":")[0], _DEFAULT_WORK["cpu"])

    @property
    def served_model_name(self) -> str:
        """The id clients see in ``/v1/models`` and may pass as ``model``."""
        if self.model_name:
            return self.model_name
        # A local folder is named by its last component; a hub id ("org/name") stays whole.
        local = Path(self.model).expanduser()
        return local.name if local.is_dir() else self.model
