"""Prompt-set and prompt names made safe for folders and files, readable and distinct."""

from __future__ import annotations

import hashlib
import unicodedata

# 64 characters of up to 3 UTF-8 bytes, the hash and what image names add stay
# under the usual 255-byte limit of a file name.
_MAX_NAME_CHARS = 64


def safe_name(name: str) -> str:
    """``name`` made safe for a folder or file name, readable and unique.

    Letters and digits of any script are kept (``猫`` stays ``猫``); anything
    else but ``.``, ``_`` and ``-`` becomes ``_``. A name with non-ASCII letters
    (or none left at all) gets ``-`` and a short hash of the original, so names
    that tools might normalise differently, or that clean to nothing, stay
    distinct; so does one cut to 64 characters (a file name has at most 255
    bytes). Other ASCII names are unchanged, so earlier results keep their folders.
    """
    name = unicodedata.normalize("NFC", name)
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("._")
    if cleaned and cleaned.isascii() and len(cleaned) <= _MAX_NAME_CHARS:
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[:_MAX_NAME_CHARS] or 'unnamed'}-{digest}"
