"""The jobs service's settings: one validated object read from ``JOBS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service reads from its environment, validated at start-up.

    Each field ``x`` comes from ``JOBS_X`` (case-insensitive) or a ``.env`` file. Invalid values
    fail start-up with a message naming the variable.
    """

    model_config = SettingsConfigDict(
        env_prefix="JOBS_", env_file=".env", extra="ignore", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)
    api_key: SecretStr | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # The records (jobs.sqlite3) and one folder per job (work/, output/).
    data_dir: Path = Path("research/benchmark_results/jobs")
    # Mounted read-only at /resources in every job: the research workspace by default.
    resources_dir: Path = Path("research")
    # The same folders as the host's engine sees them, when the service runs in a container
    # and cannot find out itself (it normally reads its own container's mounts).
    host_data_dir: Path | None = None
    host_resources_dir: Path | None = None

    # Timeouts and sizes of what a client may submit.
    default_timeout: float = Field(default=300.0, gt=0)
    max_timeout: float = Field(default=24 * 3600.0, gt=0)
    max_file_bytes: int = Field(default=16 * 1024**2, ge=1)
    max_files_bytes: int = Field(default=64 * 1024**2, ge=1)
    max_files: int = Field(default=1000, ge=0)

    # The sandbox.
    allow_network: bool = False
    pids_limit: int = Field(default=512, ge=16)
    tmp_size: int = Field(default=256 * 1024**2, ge=1024**2)
    # "uid:gid" the job runs as; default: the service's own user, or 65534:65534 (nobody)
    # when the service runs as root.
    job_user: str | None = None

    # How often the scheduler looks at the queue when nothing wakes it (seconds).
    poll_interval: float = Field(default=1.0, gt=0)
    # Where GPU jobs meet the backend; None: gpu_coord's own default ($GPU_COORD_PATH).
    gpu_coord_path: Path | None = None

    # The dashboard (GET /): where it reads the backend's /metrics (in compose
    # http://backend:8000) and the benchmark runner's results folder (read only).
    backend_url: str = "http://127.0.0.1:8000"
    backend_api_key: SecretStr | None = None  # when BACKEND_PROTECT_STATUS guards /metrics
    results_dir: Path = Path("research/benchmark_results")

    @field_validator("api_key", "backend_api_key")
    @classmethod
    def _empty_key_is_no_key(cls, value: SecretStr | None) -> SecretStr | None:
        # JOBS_API_KEY= (set but empty) in a compose file means "no key".
        if value is not None and not value.get_secret_value():
            return None
        return value

    @field_validator("backend_url")
    @classmethod
    def _backend_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"backend_url {value!r}: expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("job_user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        uid, _, gid = value.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise ValueError(f"job_user {value!r}: expected numeric 'uid:gid'")
        if uid == "0":
            raise ValueError("job_user: jobs never run as root (uid 0)")
        return value

    @model_validator(mode="after")
    def _timeouts(self) -> Settings:
        if self.default_timeout > self.max_timeout:
            raise ValueError(
                f"default_timeout ({self.default_timeout:g} s) exceeds max_timeout "
                f"({self.max_timeout:g} s)"
            )
        return self
