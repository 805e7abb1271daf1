"""Prompt sets: reading the files researchers drop into the data folder.

Formats, chosen by file extension:

- ``.json``: a list of strings, a list of objects with ``prompt`` (and optional
  ``id``, ``category`` and any other fields), or an object ``{"prompts": [...]}``
  holding either list;
- ``.jsonl``: one string or object per line (blank lines are ignored);
- ``.csv`` / ``.tsv``: a header row with a prompt column (``prompt``, ``Prompt`` as
  in PartiPrompts, or ``Prompts`` as in DrawBench) and optional ``id`` and
  ``category``/``Category`` columns, and PartiPrompts' ``Challenge`` column;
- ``.txt``: one prompt a line (blank lines and lines starting with ``#`` are skipped).

A prompt set is all or nothing: any bad entry (not UTF-8, bad JSON, missing or
empty prompt, duplicate id, a prompt longer than :data:`MAX_PROMPT_CHARS`)
rejects the whole file with a :class:`PromptSetError` naming the file and the
entry, so a researcher never gets a silently partial benchmark. Identity is the
file's content hash: an edited file is a new prompt set.

Categories are the report's groups. A prompt with one (DrawBench's Category, a
``category`` field) keeps it as plain text; one with more (PartiPrompts' Category
and Challenge, or ``category`` and ``challenge`` fields) keeps them as one JSON
object, ``{"category": "Animals", "challenge": "Basic"}``, in the same single
``category`` the store and the rows carry; :func:`category_axes` reads either form.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import DataDirError, PromptSetError, UnknownNameError
from benchmark.prompts._categories import category_axes, encode_categories
from benchmark.prompts._formats import raw_entries
from benchmark.prompts._names import safe_name
from benchmark.records import prompt_hash

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PROMPT_CHARS",
    "SUFFIXES",
    "Prompt",
    "PromptSet",
    "candidate_files",
    "category_axes",
    "encode_categories",
    "load_prompt_set",
    "load_prompt_sets",
    "safe_name",
]

log = logging.getLogger(__name__)

SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".txt")
# Diffusion text encoders read 77 tokens; a prompt far past that is a mistake
# (a pasted document), not a prompt. The cap keeps the database and reports sane.
MAX_PROMPT_CHARS = 4000
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Prompt:
    """One prompt: a stable ``id`` within its set, the text, an optional category.

    ``content_hash`` is the identity results are kept under (see
    :class:`benchmark.records.ItemKey`): the hash of the text, and of its
    occurrence number for a text repeated in one set, so each copy has its images.
    """

    id: str
    text: str
    category: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", prompt_hash(self.text))


@dataclass(frozen=True)
class PromptSet:
    """A loaded prompt-set file. ``name`` is the file stem made safe for folder names."""

    name: str
    path: Path
    content_hash: str
    prompts: tuple[Prompt, ...]

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of the content hash, enough to tell versions apart."""
        return self.content_hash[:12]


def _validate(path: Path, raw: Iterable[tuple[str, Any, Any, Any, dict[str, Any]]]) -> list[Prompt]:
    prompts: list[Prompt] = []
    seen: dict[str, str] = {}
    repeats: dict[str, int] = {}
    for index, (where, pid, text, category, extra) in enumerate(raw, start=1):
        if not isinstance(text, str):
            raise PromptSetError(path, f"prompt must be a string, got {type(text).__name__}", where)
        text = text.strip()
        if not text:
            raise PromptSetError(path, "empty prompt", where)
        if len(text) > MAX_PROMPT_CHARS:
            raise PromptSetError(
                path, f"prompt is {len(text)} characters, over the {MAX_PROMPT_CHARS} limit", where
            )
        if pid is None or (isinstance(pid, str) and not pid.strip()):
            pid_text = f"{index:04d}"
        elif isinstance(pid, str | int) and not isinstance(pid, bool):
            pid_text = safe_name(str(pid).strip())
        else:
            raise PromptSetError(path, f"id must be a string or an integer, got {pid!r}", where)
        if pid_text in seen:
            raise PromptSetError(
                path, f"duplicate id {pid_text!r} (first at {seen[pid_text]})", where
            )
        seen[pid_text] = where
        if category is not None and not isinstance(category, str):
            category = str(category)
        # A text repeated in one set is a second prompt, with images of its own.
        repeat = repeats[text] = repeats.get(text, -1) + 1
        content = prompt_hash(text if not repeat else f"{text}\0{repeat}")
        category = (category or None) and category.strip()
        prompts.append(Prompt(pid_text, text, category, extra, content_hash=content))
    if not prompts:
        raise PromptSetError(path, "no prompts in the file")
    return prompts


def load_prompt_set(path: Path) -> PromptSet:
    """Read one prompt-set file. Raises :class:`PromptSetError` naming the file and entry."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise PromptSetError(path, f"unsupported extension (use one of {', '.join(SUFFIXES)})")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PromptSetError(path, f"file is {size} bytes, over the {MAX_FILE_BYTES} limit")
        data = path.read_bytes()
    except OSError as exc:
        raise PromptSetError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PromptSetError(path, "not UTF-8 text", f"byte {exc.start} (line {line})") from exc
    prompts = _validate(path, raw_entries(path, text))
    return PromptSet(
        name=safe_name(path.stem),
        path=path,
        content_hash=hashlib.sha256(data).hexdigest(),
        prompts=tuple(prompts),
    )


def candidate_files(data_dir: Path) -> list[Path]:
    """Prompt-set files in ``data_dir`` (not recursive), sorted; hidden and temp files skipped."""
    if not data_dir.is_dir():
        return []
    return sorted(
        p
        for p in data_dir.iterdir()
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not p.name.startswith((".", "~"))
        and not p.name.endswith("~")
    )


def load_prompt_sets(
    data_dir: Path, *, only: Iterable[str] | None = None
) -> tuple[list[PromptSet], list[PromptSetError]]:
    """Load every prompt set in ``data_dir``; bad files are returned as errors, not raised.

    ``only`` limits the result to the named sets (file stems, file names or set
    names); a name that matches no file raises :class:`UnknownNameError`, and a
    missing ``data_dir`` :class:`DataDirError`. Two files whose names map to the
    same set name (``a.json`` and ``a.csv``) are an error for the second one,
    since their images would share a folder.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        what = "is not a folder" if data_dir.exists() else "does not exist"
        raise DataDirError(f"prompt-set folder {data_dir} {what}")
    files = candidate_files(data_dir)
    wanted = set(only) if only is not None else None
    if wanted is not None:
        known = {n for p in files for n in (p.stem, p.name, safe_name(p.stem))}
        unknown = sorted(wanted - known)
        if unknown:
            there = ", ".join(sorted(safe_name(p.stem) for p in files)) or "none"
            raise UnknownNameError(
                f"unknown prompt set(s) {', '.join(unknown)} (not in {data_dir}; there: {there})"
            )
    sets: list[PromptSet] = []
    errors: list[PromptSetError] = []
    names: dict[str, Path] = {}
    for path in files:
        if wanted is not None and not ({path.stem, path.name, safe_name(path.stem)} & wanted):
            continue
        try:
            loaded = load_prompt_set(path)
        except PromptSetError as exc:
            errors.append(exc)
            continue
        if loaded.name in names:
            errors.append(
                PromptSetError(
                    path, f"set name {loaded.name!r} is already used by {names[loaded.name]}"
                )
            )
            continue
        names[loaded.name] = path
        sets.append(loaded)
    return sets, errors
