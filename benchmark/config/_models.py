"""The ``[[models]]`` tables: one :class:`ModelSpec` each, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.config._table import Table, resolve
from benchmark.placement import PLACEMENT_CHOICES

if TYPE_CHECKING:
    from imagegen import GenerationRequest

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DTYPES = ("auto", "float16", "fp16", "bfloat16", "bf16", "float32", "fp32")


@dataclass(frozen=True)
class ModelSpec:
    """One model to benchmark. ``source`` is the hub repo id or the resolved local folder."""

    name: str
    source: str
    steps: int
    guidance: float
    width: int
    height: int
    dtype: str = "auto"
    variant: str | None = None
    negative_prompt: str | None = None
    gated: bool = False
    timeout_s: float | None = None
    placement: str = "auto"  # benchmark.placement: where it runs (not part of the fingerprint)
    # The repo id or the path as written in the TOML: fingerprints use it, so moving
    # the checkout (or mounting it elsewhere in a container) keeps earlier results.
    declared: str = ""

    @property
    def fingerprint(self) -> str:
        """A hash of everything that changes the images: a changed model is a new result."""
        keys = ("steps", "guidance", "width", "height", "dtype", "variant")
        payload = {k: getattr(self, k) for k in keys}
        payload["source"] = self.declared or self.source
        payload["negative_prompt"] = self.negative_prompt or None
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def request(self, prompt: str, seed: int) -> GenerationRequest:
        """What this model makes of ``prompt`` with ``seed``: its settings, one image."""
        # Imported here: imagegen pulls in torch, which the config need not.
        from imagegen import GenerationRequest

        return GenerationRequest(
            prompt=prompt,
            negative_prompt=self.negative_prompt,
            width=self.width,
            height=self.height,
            steps=self.steps,
            guidance=self.guidance,
            seed=seed,
        )


def parse_model(path: Path, index: int, data: Any) -> ModelSpec:
    table = Table(path, f"models[{index}]", data)
    table.unknown(
        {
            "name",
            "repo",
            "path",
            "steps",
            "guidance",
            "width",
            "height",
            "dtype",
            "variant",
            "negative_prompt",
            "gated",
            "timeout_s",
            "placement",
            "notes",
        }
    )
    name = table.get("name", str)
    if not name or not _NAME_RE.match(name):
        raise table.fail("name", f"need a name of letters, digits, '.', '_' or '-', got {name!r}")
    table.where = f"models[{index}] ({name})"
    repo, local = table.get("repo", str), table.get("path", str)
    if (repo is None) == (local is None):
        raise table.fail("repo", "give exactly one of repo (hub id) or path (local folder)")
    source = repo if repo is not None else resolve(path.parent, local)
    dtype = table.get("dtype", str, "auto")
    if dtype.lower() not in _DTYPES:
        raise table.fail("dtype", f"{dtype!r} is not one of {', '.join(_DTYPES)}")
    width, height = table.positive("width", int, 512), table.positive("height", int, 512)
    for key, value in (("width", width), ("height", height)):
        if value % 8:
            raise table.fail(key, f"{value} is not a multiple of 8")
    guidance = table.get("guidance", float, 7.5)
    if guidance < 0:
        raise table.fail("guidance", f"must not be negative, got {guidance}")
    return ModelSpec(
        name=name,
        source=source,
        steps=table.positive("steps", int, 30),
        guidance=guidance,
        width=width,
        height=height,
        dtype=dtype,
        variant=table.get("variant", str),
        negative_prompt=table.get("negative_prompt", str) or None,
        gated=table.get("gated", bool, False),
        timeout_s=table.positive("timeout_s", float),
        placement=_placement(table),
        declared=repo if repo is not None else f"path:{local}",
    )


def _placement(table: Table) -> str:
    value = table.get("placement", str, "auto")
    if value not in PLACEMENT_CHOICES:
        raise table.fail("placement", f"{value!r} is not one of {', '.join(PLACEMENT_CHOICES)}")
    return str(value)
