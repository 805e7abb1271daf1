"""The one way an experiment records its figures: a section appended to ``docs/performance.md``."""

from __future__ import annotations

import os
import platform
from pathlib import Path

DEFAULT_OUTPUT = Path("docs/performance.md")
TITLE = "# Performance\n\n"


def append_section(text: str, output: Path = DEFAULT_OUTPUT) -> None:
    """Append ``text`` as a new section of ``output`` (created with a title when missing).

    Sections are separated by one blank line whatever the file ended with, so
    runs of different experiments can append to the same file in any order.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    existing = output.read_text(encoding="utf-8") if output.exists() else ""
    prefix = "" if existing else TITLE
    if not existing or existing.endswith("\n\n"):
        separator = ""
    else:
        separator = "\n" if existing.endswith("\n") else "\n\n"
    with output.open("a", encoding="utf-8") as handle:
        handle.write(separator + prefix + text.strip("\n") + "\n")


def machine_line() -> str:
    """The machine a figure was measured on, in one line (for a section's header)."""
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
