"""Model folders for the placement tests: real safetensors files of any declared size.

A file's header declares its tensors' shapes and dtypes; the data that follows
is left sparse (``truncate``), so a "24 GiB" transformer takes no disk space and
is still a valid safetensors file that any reader sizes from its header.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

_SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}


def write_safetensors(path: Path, tensors: Mapping[str, tuple[str, Sequence[int]]]) -> int:
    """Write a sparse safetensors file of ``{name: (dtype, shape)}``; returns its data bytes."""
    header: dict[str, object] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * _SIZES[dtype]
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        out.truncate(8 + len(blob) + offset)
    return offset


def model_folder(
    root: Path,
    pipeline_class: str,
    components: Mapping[str, Mapping[str, tuple[str, Sequence[int]]]],
    *,
    variant: str | None = None,
) -> Path:
    """A pipeline folder: ``model_index.json`` and one weight file per component."""
    index: dict[str, object] = {"_class_name": pipeline_class, "scheduler": ["diffusers", "X"]}
    for name, tensors in components.items():
        index[name] = ["diffusers", "Model"]
        stem = "diffusion_pytorch_model" + (f".{variant}" if variant else "")
        write_safetensors(root / name / f"{stem}.safetensors", tensors)
    (root / "scheduler").mkdir(parents=True, exist_ok=True)
    (root / "model_index.json").write_text(json.dumps(index))
    return root
