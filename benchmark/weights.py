"""A model's weights, sized from its files without loading them (no torch, no download).

The folder is the configured local folder or the model's snapshot in the
Hugging Face cache (``huggingface_hub.try_to_load_from_cache``: never the
network). Each component of ``model_index.json`` (unet, transformer,
text_encoder, vae, ...) is sized from its weight files of the configured
variant: a safetensors file from its header (every tensor's shape and dtype,
floating-point tensors counted at the configured dtype, which is what diffusers
casts them to), any other weight file by its size.
"""

from __future__ import annotations

import json
import logging
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WeightSizes", "bytes_per_value", "model_folder", "size_weights"]

log = logging.getLogger(__name__)

_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8,
}  # fmt: skip
_FLOATS = {"F64", "F32", "F16", "BF16"}
_VALUE_BYTES = {"float16": 2, "fp16": 2, "bfloat16": 2, "bf16": 2, "float32": 4, "fp32": 4}
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_MAX_HEADER = 100 * 2**20  # a header above this is not a safetensors header


@dataclass(frozen=True)
class WeightSizes:
    """Each component's weights at the configured dtype, the largest tensor, the family."""

    folder: Path
    components: dict[str, int]
    largest_tensor_bytes: int
    pipeline_class: str | None


def bytes_per_value(dtype: str, device: str) -> int:
    """Bytes per floating-point value for the configured ``dtype`` on ``device``.

    ``auto`` is half precision on an accelerator and float32 on the CPU, as
    ``imagegen.pick_dtype`` chooses.
    """
    name = dtype.lower()
    if name == "auto":
        return 4 if device == "cpu" else 2
    return _VALUE_BYTES[name]


def model_folder(source: str) -> Path | None:
    """The folder holding ``source``'s files: the local folder, or its cached hub snapshot."""
    local = Path(source).expanduser()
    if local.is_dir():
        return local
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the runner can still run; it just cannot size the model
        return None
    try:
        found = try_to_load_from_cache(source, "model_index.json")
    except Exception as exc:  # a repo id the hub library rejects: the load will say so
        log.debug("no cached snapshot of %s: %s", source, exc)
        return None
    return Path(found).parent if isinstance(found, str) else None


def _variant_of(name: str, suffix: str) -> str | None:
    base = _SHARD.sub("", name[: -len(suffix)])
    return base.split(".", 1)[1] if "." in base else None


def _component_files(folder: Path, variant: str | None) -> list[Path]:
    """The weight files diffusers would load from one component folder."""
    for suffix in _WEIGHT_SUFFIXES:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(suffix))
        if not files:
            continue
        wanted = [p for p in files if _variant_of(p.name, suffix) == variant]
        # diffusers falls back to the plain files when a variant is missing.
        plain = [p for p in files if _variant_of(p.name, suffix) is None]
        return wanted or plain
    return []


def _safetensors_sizes(path: Path, value_bytes: int) -> tuple[int, int]:
    """(total bytes at the configured dtype, largest tensor) from a safetensors header."""
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (length,) = struct.unpack("<Q", raw)
        if length > _MAX_HEADER:
            raise ValueError(f"{path}: header of {length} bytes is not a safetensors header")
        header = json.loads(handle.read(length))
    total = largest = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        kind = str(entry["dtype"])
        size = value_bytes if kind in _FLOATS else _DTYPE_BYTES.get(kind, 4)
        tensor = math.prod(int(n) for n in entry["shape"]) * size
        total += tensor
        largest = max(largest, tensor)
    return total, largest


def size_weights(
    source: str, *, dtype: str, variant: str | None, device: str
) -> WeightSizes | None:
    """Size ``source``'s weights for ``dtype``/``variant`` on ``device``; None when unknown.

    None when there is no folder (a hub model not yet in the cache) or no
    ``model_index.json``; a component whose files cannot be read is logged and
    left out.
    """
    folder = model_folder(source)
    if folder is None or not (folder / "model_index.json").is_file():
        return None
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", folder / "model_index.json", exc)
        return None
    value_bytes = bytes_per_value(dtype, device)
    components: dict[str, int] = {}
    largest = 0
    for name, spec in sorted(index.items()):
        if name.startswith("_") or not isinstance(spec, list) or not (folder / name).is_dir():
            continue
        total = 0
        for path in _component_files(folder / name, variant):
            try:
                if path.name.endswith(".safetensors"):
                    size, big = _safetensors_sizes(path, value_bytes)
                else:
                    size = big = path.stat().st_size
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("cannot size %s: %s", path, exc)
                continue
            total += size
            largest = max(largest, big)
        if total:
            components[name] = total
    if not components:
        return None
    klass = index.get("_class_name")
    return WeightSizes(folder, components, largest, klass if isinstance(klass, str) else None)
