"""A prompt's categories in the one ``category`` string the store and the rows carry.

One axis (``category``) is its plain text; more (PartiPrompts' Category and Challenge) are a
JSON object, ``{"category": "Animals", "challenge": "Basic"}``.
"""

from __future__ import annotations

import json
from typing import Any


def encode_categories(axes: dict[str, Any]) -> str | None:
    """One category string from ``{axis: value}`` (empty values dropped).

    Only ``category``: its plain text, as before; more axes: a JSON object.
    """
    clean = {k: str(v).strip() for k, v in axes.items() if v is not None and str(v).strip()}
    if not clean:
        return None
    if list(clean) == ["category"]:
        return clean["category"]
    return json.dumps(clean, ensure_ascii=False, sort_keys=True)


def category_axes(category: str | None) -> dict[str, str]:
    """The axes of a stored category: ``{"category": ..., "challenge": ...}``.

    Plain text is the one axis ``category``; None is no axis at all.
    """
    if not category:
        return {}
    if category.startswith("{"):
        try:
            decoded = json.loads(category)
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict) and all(isinstance(v, str) for v in decoded.values()):
            return {str(k): v for k, v in decoded.items()}
    return {"category": category}
