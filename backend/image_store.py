"""The store behind ``response_format=url``: PNG files kept up to a retention count."""

from __future__ import annotations

import re
import threading
import uuid
from collections import deque
from pathlib import Path

from PIL import Image

_ID = re.compile(r"^[0-9a-f]{32}$")


class ImageStore:
    """Saves PNGs under ``directory`` and keeps only the newest ``retention`` of them.

    Ids are random (uuid4 hex), so a URL cannot be guessed from another. Files already in the
    folder at start-up count towards the limit, oldest first. Thread-safe.
    """

    def __init__(self, directory: Path, retention: int) -> None:
        if retention < 1:
            raise ValueError(f"retention must be >= 1, got {retention}")
        self.directory = directory
        self.retention = retention
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        existing = sorted(
            (p for p in directory.glob("*.png") if _ID.match(p.stem)),
            key=lambda p: p.stat().st_mtime,
        )
        self._ids: deque[str] = deque(p.stem for p in existing)
        self._prune()

    def save(self, image: Image.Image) -> str:
        """Write ``image`` as PNG and return its id; drops the oldest past the retention."""
        image_id = uuid.uuid4().hex
        target = self.directory / f"{image_id}.png"
        tmp = target.with_suffix(".tmp")
        image.save(tmp, format="PNG")
        tmp.replace(target)  # a reader never sees a half-written file
        with self._lock:
            self._ids.append(image_id)
            self._prune()
        return image_id

    def read(self, image_id: str) -> bytes | None:
        """The PNG bytes of ``image_id``, or ``None`` if unknown, malformed or already pruned.

        Whole or nothing: the file is opened once and read through that descriptor, so a prune
        that unlinks it meanwhile (POSIX keeps an open file's data) cannot cut the bytes short,
        and a prune before the open is a plain miss.
        """
        if not _ID.match(image_id):
            return None
        try:
            with open(self.directory / f"{image_id}.png", "rb") as file:
                return file.read()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def _prune(self) -> None:
        while len(self._ids) > self.retention:
            old = self._ids.popleft()
            (self.directory / f"{old}.png").unlink(missing_ok=True)
