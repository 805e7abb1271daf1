"""Finished images as the client reads them back: base64 PNGs, or stored PNGs' URLs."""

from __future__ import annotations

import base64
import io

from PIL import Image

from backend.image_store import ImageStore
from backend.schemas import ImageData, ResponseFormat


def encode_b64(images: list[Image.Image]) -> list[ImageData]:
    out = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(ImageData(b64_json=base64.b64encode(buffer.getvalue()).decode("ascii")))
    return out


def store_urls(store: ImageStore, images: list[Image.Image], base_url: str) -> list[ImageData]:
    return [ImageData(url=f"{base_url}/images/{store.save(image)}.png") for image in images]


def deliver(
    images: list[Image.Image], response_format: ResponseFormat, store: ImageStore, base_url: str
) -> list[ImageData]:
    """``images`` in ``response_format`` (URLs under ``base_url``, without a trailing slash)."""
    if response_format == "url":
        return store_urls(store, images, base_url)
    return encode_b64(images)
