"""Print the requirements of pyproject extras, one per line, for `pip install -r`.

    python3 pyproject_deps.py PYPROJECT EXTRA [EXTRA ...]

The images install dependencies in a layer of their own, before the project's
code is copied, so a code change does not reinstall torch. pip cannot install
only a project's dependencies, so this reads them from pyproject.toml (the single
source of truth) and expands self-references such as ``gpu-share[imagegen]``.
The base ``[project] dependencies`` are always included. Exits naming the file
or extra at fault (status 1; 2 for a usage error).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """Return the base dependencies plus those of ``extras``, self-references expanded."""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise SystemExit(f"{pyproject}: cannot read [project]: {exc}") from exc
    own = _normalise(project["name"])
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    out: list[str] = []
    seen: set[str] = set()

    def add(extra: str) -> None:
        if extra in seen:
            return
        if extra not in optional:
            known = ", ".join(sorted(optional)) or "none"
            raise SystemExit(f"{pyproject}: no extra named {extra!r} (known: {known})")
        seen.add(extra)
        for req in optional[extra]:
            match = _NAME.match(req)
            if match and _normalise(match.group(1)) == own:
                for sub in (match.group(2) or "").split(","):
                    if sub.strip():
                        add(sub.strip())
            elif req not in out:
                out.append(req)

    out.extend(r for r in project.get("dependencies", []) if r not in out)
    for extra in extras:
        add(extra)
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    print("\n".join(requirements(Path(argv[0]), argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
