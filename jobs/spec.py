"""What a client submits: :class:`JobSpec`, the body of ``POST /v1/jobs``, checked field by field.

Every refusal names the field (and, for files, the file) and what was expected. Limits that
depend on the service's settings (file sizes, the maximum timeout, whether jobs may have a
network) are checked by :func:`jobs.service.check_limits`, not here.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from gpu_coord import parse_size

LeaseMode = Literal["manager", "self"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Docker's reference grammar, loosely: registry/name:tag or @digest, no spaces.
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
_SIZE_HINT = "a size like 512MB, 1GB, 1.5GiB or a number of bytes"


def _count(value: Any) -> Any:
    # cpu/gpu: a non-negative integer or an integer string ("2"); True/1.5/"two" are refused.
    if isinstance(value, bool):
        raise ValueError("expected a non-negative integer (or an integer string like '2')")
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise ValueError(
                f"expected a non-negative integer (or an integer string like '2'), got {value!r}"
            )
        return int(text)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected a non-negative integer, got {value}")
        return value
    raise ValueError(f"expected a non-negative integer (or an integer string), got {value!r}")


def _size(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected {_SIZE_HINT}, got {value!r}")
    try:
        # One grammar for sizes in the project: gpu_coord's (the lease's memory budget).
        return parse_size(value, name="size")
    except ValueError as exc:
        raise ValueError(f"expected {_SIZE_HINT}, got {value!r}") from exc


Count = Annotated[int, BeforeValidator(_count)]
Size = Annotated[int, BeforeValidator(_size)]
OptionalSize = Annotated[int | None, BeforeValidator(_size)]


def safe_relative_path(value: str, *, what: str) -> str:
    """``value`` as a clean relative POSIX path, or ValueError naming what is wrong with it."""
    if not value:
        raise ValueError(f"{what} is empty")
    if "\x00" in value:
        raise ValueError(f"{what} {value!r} contains a NUL byte")
    if value.startswith("/") or value.startswith("\\"):
        raise ValueError(f"{what} {value!r} is absolute: give a path relative to the folder")
    parts = PurePosixPath(value).parts
    if any(part == ".." for part in parts):
        raise ValueError(f"{what} {value!r} contains '..': it would leave the folder")
    if "\\" in value:
        raise ValueError(f"{what} {value!r} contains a backslash: use '/' between folders")
    clean = str(PurePosixPath(*parts)) if parts else ""
    if clean in {"", "."}:
        raise ValueError(f"{what} {value!r} names no file")
    return clean


class Resources(BaseModel):
    """What the job may use. Sizes are bytes after parsing; the API shows them as bytes."""

    model_config = ConfigDict(extra="forbid")

    cpu: Count = 1
    gpu: Count = 0
    ram: Size = 512 * 1024**2
    storage: Size = 1024**3
    gpu_memory: OptionalSize = None

    @field_validator("ram", "storage")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"expected {_SIZE_HINT} above zero")
        return value

    @model_validator(mode="after")
    def _gpu_memory_needs_gpu(self) -> Resources:
        if self.gpu_memory is not None and self.gpu == 0:
            raise ValueError("gpu_memory is set but gpu is 0: ask for a GPU too (gpu: 1)")
        if self.gpu > 1:
            raise ValueError(f"gpu: {self.gpu} requested; a job runs on one device (gpu: 0 or 1)")
        return self


class JobFile(BaseModel):
    """One file written into the job's ``work`` folder before it starts."""

    model_config = ConfigDict(extra="forbid")

    path: str
    content: str
    encoding: Literal["text", "base64"] = "text"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return safe_relative_path(value, what="file path")

    @model_validator(mode="after")
    def _decodable(self) -> JobFile:
        if self.encoding == "base64":
            try:
                base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"file {self.path!r}: content is not valid base64") from exc
        return self

    def data(self) -> bytes:
        """The file's bytes."""
        if self.encoding == "base64":
            return base64.b64decode(self.content, validate=True)
        return self.content.encode("utf-8")


class JobSpec(BaseModel):
    """The body of ``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    image: str
    files: list[JobFile] = Field(default_factory=list)
    script: str | None = None
    command: list[str] | None = None
    result_file: str = "result.json"
    timeout: float | None = Field(default=None, gt=0)
    resources: Resources = Field(default_factory=Resources)
    lease: LeaseMode = "manager"
    network: bool = False
    name: str | None = None
    baseline: str | None = None

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE.match(value):
            raise ValueError(
                f"{value!r} is not an image reference (lower-case name[:tag], no spaces)"
            )
        return value

    @field_validator("files")
    @classmethod
    def _no_duplicates(cls, files: list[JobFile]) -> list[JobFile]:
        seen: set[str] = set()
        for item in files:
            if item.path in seen:
                raise ValueError(f"file {item.path!r} is given twice")
            if item.path == "run.sh":
                raise ValueError("file 'run.sh' is reserved: the script is written there")
            seen.add(item.path)
        return files

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("command is empty: give the program and its arguments")
            if any("\x00" in arg for arg in value):
                raise ValueError("command: an argument contains a NUL byte")
        return value

    @field_validator("result_file")
    @classmethod
    def _result_file(cls, value: str) -> str:
        return safe_relative_path(value, what="result_file")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                f"{value!r}: expected 1-100 letters, digits, '.', '_' or '-' (first a letter "
                "or digit)"
            )
        return value

    @model_validator(mode="after")
    def _one_program(self) -> JobSpec:
        if (self.script is None) == (self.command is None):
            raise ValueError("give exactly one of script (shell, run as run.sh) or command (argv)")
        if self.script is not None and "\x00" in self.script:
            raise ValueError("script contains a NUL byte")
        return self
