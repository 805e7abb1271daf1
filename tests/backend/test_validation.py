"""Request limits, checked without a model: sizes, prompt, n, steps, model name."""

from __future__ import annotations

import pytest
import torch

from backend import InvalidRequest, NotFound, Settings
from backend.schemas import ImageGenerationRequest
from backend.validation import check_work, parse_size, resolve_request, work_of
from imagegen import GenerationRequest, LoadedPipeline


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
    r = resolve_request(_request(), settings)
    p = r.generation
    assert (p.prompt, p.n, p.width, p.height, r.response_format) == (
        "a fox",
        1,
        None,
        None,
        "b64_json",
    )
    assert p.steps is None
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
    assert resolve_request(_request(model="org/tiny"), settings).generation.prompt == "a fox"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": "\ud800"}, "prompt"),
        ({"prompt": "a fox \udfff"}, "prompt"),
        ({"negative_prompt": "fog \ud800"}, "negative_prompt"),
        ({"prompt": "\x00\x01\x7f"}, "prompt"),
        ({"prompt": " \x1b\x07 \n"}, "prompt"),
        ({"negative_prompt": "\x00\x9f"}, "negative_prompt"),
    ],
)
def test_text_that_is_not_utf8_or_only_controls_names_the_field(
    settings: Settings, fields: dict[str, object], param: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_request(_request(**fields), settings)
    assert info.value.param == param
    assert info.value.code == f"invalid_{param}"


def test_a_prompt_with_controls_and_text_is_fine(settings: Settings) -> None:
    r = resolve_request(_request(prompt="a\tfox\n", negative_prompt="  "), settings)
    assert r.generation.prompt == "a\tfox\n"


@pytest.mark.parametrize("size", ["٦٤x٦٤", "６４x６４", "64x٦٤", "𝟔𝟒x64", "64x64\n", "064x64"])
def test_sizes_take_ascii_digits_only(settings: Settings, size: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_size(size, settings)
    assert info.value.param == "size"


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": ""},
        {"negative_prompt": "x" * 51},
        {"n": 0},
        {"num_inference_steps": 0},
        {"size": "1x1"},
    ],
)
def test_every_refusal_has_a_code(settings: Settings, fields: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_request(_request(**fields), settings)
    assert info.value.code.startswith("invalid_")


def _loaded(device: str, size: int = 512, steps: int = 30) -> LoadedPipeline:
    # check_work reads only the device and the defaults; no pipeline is needed for that.
    return LoadedPipeline(
        model_id="org/tiny",
        pipe=None,
        device=device,
        dtype=torch.float32,
        default_width=size,
        default_height=size,
        default_steps=steps,
        default_guidance=7.5,
    )


def test_work_budget_follows_the_device() -> None:
    settings = Settings(_env_file=None, model="org/tiny", max_size=1024, max_steps=100)  # type: ignore[call-arg]
    big = GenerationRequest("x", width=1024, height=1024, steps=2)
    with pytest.raises(InvalidRequest) as info:
        check_work(big, _loaded("cpu"), settings)  # 1024x1024 on the CPU: minutes of decode
    assert info.value.code == "work_too_large"
    assert "pixel-steps" in info.value.message
    check_work(big, _loaded("cuda:0"), settings)  # the same request is fine on a GPU
    check_work(GenerationRequest("x"), _loaded("cpu"), settings)  # the defaults fit
    assert work_of(GenerationRequest("x", n=2), _loaded("cpu")) == 512 * 512 * 2 * (30 + 10)


def test_work_budget_is_configurable() -> None:
    settings = Settings(_env_file=None, model="org/tiny", max_work=64 * 64 * (10 + 10))  # type: ignore[call-arg]
    check_work(GenerationRequest("x", width=64, height=64, steps=10), _loaded("cuda"), settings)
    with pytest.raises(InvalidRequest):
        check_work(GenerationRequest("x", width=64, height=64, steps=11), _loaded("cuda"), settings)
