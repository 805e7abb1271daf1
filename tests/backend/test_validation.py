"""Request limits, checked without a model: sizes, prompt, n, steps, model name."""

from __future__ import annotations

import pytest

from backend import InvalidRequest, NotFound, Settings
from backend.schemas import ImageGenerationRequest
from backend.validation import parse_size, resolve_request


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        model="org/tiny",
        min_size=64,
        max_size=512,
        max_pixels=512 * 256,
        max_n=3,
        max_prompt_chars=50,
        max_steps=20,
    )


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, (None, None)),
        ("auto", (None, None)),
        ("64x64", (64, 64)),
        ("512x256", (512, 256)),
        (" 128X64 ", (128, 64)),
    ],
)
def test_good_sizes(settings: Settings, size: str | None, expected: tuple[int, int]) -> None:
    assert parse_size(size, settings) == expected


@pytest.mark.parametrize(
    "size", ["", "64", "64x", "x64", "64*64", "axb", "63x64", "64x60", "56x64", "520x64", "512x512"]
)
def test_bad_sizes_name_size(settings: Settings, size: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_size(size, settings)
    assert info.value.param == "size"
    assert "size" in info.value.message


def _request(**fields: object) -> ImageGenerationRequest:
    return ImageGenerationRequest.model_validate({"prompt": "a fox", **fields})


def test_resolve_fills_defaults(settings: Settings) -> None:
    p = resolve_request(_request(), settings)
    assert (p.prompt, p.n, p.width, p.height, p.response_format) == (
        "a fox",
        1,
        None,
        None,
        "b64_json",
    )
    assert p.num_inference_steps is None
    assert p.seed is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": " \n "}, "prompt"),
        ({"prompt": "x" * 51}, "prompt"),
        ({"negative_prompt": "x" * 51}, "negative_prompt"),
        ({"n": 0}, "n"),
        ({"n": 4}, "n"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"num_inference_steps": 21}, "num_inference_steps"),
        ({"size": "1x1"}, "size"),
    ],
)
def test_limits_name_the_field(settings: Settings, fields: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_request(_request(**fields), settings)
    assert info.value.param == param
    assert param in info.value.message
    assert info.value.status_code == 400


def test_unknown_model_is_404_naming_model(settings: Settings) -> None:
    with pytest.raises(NotFound) as info:
        resolve_request(_request(model="dall-e-3"), settings)
    assert info.value.param == "model"
    assert "dall-e-3" in info.value.message
    assert resolve_request(_request(model="org/tiny"), settings).prompt == "a fox"
