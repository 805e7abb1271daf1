"""Every invalid request gets a 4xx in the OpenAI envelope naming the field at fault."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import Settings

pytestmark = pytest.mark.timeout(300)

ROUTE = "/v1/images/generations"


@pytest.fixture(scope="module")
def shared_client(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_sd: str,
    ready_client: Callable[[Settings], Any],
) -> Iterator[TestClient]:
    # One app for the whole module: these requests never reach the model.
    root: Path = tmp_path_factory.mktemp("bad-input")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        model=tiny_sd,
        gpu_coord_path=root / "gpu" / "status.json",
        image_dir=root / "images",
        api_key=None,
        max_wait=None,
        device="cpu",
        max_n=4,
        max_prompt_chars=100,
        max_size=512,
        max_steps=50,
    )
    with ready_client(settings) as client:
        yield client


def assert_envelope(resp: Any, status: int, param: str | None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["param"] == param
    if param is not None:
        assert param.split(".")[0] in error["message"]
    expected_type = "invalid_request_error" if status < 500 else "server_error"
    assert error["type"] == expected_type
    return dict(error)


BAD_BODIES: list[tuple[dict[str, Any], int, str | None]] = [
    ({}, 400, "prompt"),
    ({"prompt": ""}, 400, "prompt"),
    ({"prompt": "   "}, 400, "prompt"),
    ({"prompt": "x" * 101}, 400, "prompt"),
    ({"prompt": 42}, 400, "prompt"),
    ({"prompt": None}, 400, "prompt"),
    ({"prompt": ["a", "b"]}, 400, "prompt"),
    ({"prompt": "ok", "n": 0}, 400, "n"),
    ({"prompt": "ok", "n": 5}, 400, "n"),
    ({"prompt": "ok", "n": -3}, 400, "n"),
    ({"prompt": "ok", "n": "2"}, 400, "n"),
    ({"prompt": "ok", "n": 1.5}, 400, "n"),
    ({"prompt": "ok", "size": "512"}, 400, "size"),
    ({"prompt": "ok", "size": "widexhigh"}, 400, "size"),
    ({"prompt": "ok", "size": "500x500"}, 400, "size"),
    ({"prompt": "ok", "size": "32x32"}, 400, "size"),
    ({"prompt": "ok", "size": "1024x1024"}, 400, "size"),
    ({"prompt": "ok", "size": 512}, 400, "size"),
    ({"prompt": "ok", "response_format": "jpeg"}, 400, "response_format"),
    ({"prompt": "ok", "response_format": 1}, 400, "response_format"),
    ({"prompt": "ok", "model": "dall-e-3"}, 404, "model"),
    ({"prompt": "ok", "model": 3}, 400, "model"),
    ({"prompt": "ok", "user": 7}, 400, "user"),
    ({"prompt": "ok", "seed": -1}, 400, "seed"),
    ({"prompt": "ok", "seed": "7"}, 400, "seed"),
    ({"prompt": "ok", "num_inference_steps": 0}, 400, "num_inference_steps"),
    ({"prompt": "ok", "num_inference_steps": 51}, 400, "num_inference_steps"),
    ({"prompt": "ok", "num_inference_steps": "many"}, 400, "num_inference_steps"),
    ({"prompt": "ok", "guidance_scale": -1}, 400, "guidance_scale"),
    ({"prompt": "ok", "guidance_scale": "high"}, 400, "guidance_scale"),
    ({"prompt": "ok", "negative_prompt": 5}, 400, "negative_prompt"),
    ({"prompt": "ok", "negative_prompt": "y" * 101}, 400, "negative_prompt"),
    ({"prompt": "ok", "output_format": "webp"}, 400, "output_format"),
    ({"prompt": "ok", "steps": 4}, 400, "steps"),
]


@pytest.mark.parametrize(("body", "status", "param"), BAD_BODIES)
def test_bad_body(
    shared_client: TestClient, body: dict[str, Any], status: int, param: str | None
) -> None:
    assert_envelope(shared_client.post(ROUTE, json=body), status, param)


@pytest.mark.parametrize(
    "raw", [b"{not json", b'{"prompt": "a",}', b"", b"\xff\xfe", b'{"prompt": "unterminated']
)
def test_malformed_json(shared_client: TestClient, raw: bytes) -> None:
    resp = shared_client.post(ROUTE, content=raw, headers={"content-type": "application/json"})
    error = assert_envelope(resp, 400, None)
    assert "JSON" in error["message"] or "body" in error["message"]


@pytest.mark.parametrize("raw", [b"[]", b'"a fox"', b"42", b"null"])
def test_body_that_is_not_an_object(shared_client: TestClient, raw: bytes) -> None:
    resp = shared_client.post(ROUTE, content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_unknown_route_and_method_use_the_envelope(shared_client: TestClient) -> None:
    assert_envelope(shared_client.get("/v1/nothing"), 404, None)
    resp = shared_client.get(ROUTE)
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"


def test_unknown_image_is_404(shared_client: TestClient) -> None:
    assert_envelope(shared_client.get("/images/" + "0" * 32 + ".png"), 404, "image_id")
    assert_envelope(shared_client.get("/images/not-an-id.png"), 404, "image_id")


def test_bad_requests_are_counted(shared_client: TestClient) -> None:
    shared_client.post(ROUTE, json={"prompt": ""})
    text = shared_client.get("/metrics").text
    assert 'route="/v1/images/generations",status="400"' in text


@pytest.mark.parametrize(("body", "status", "param"), BAD_BODIES)
def test_every_error_has_a_code(
    shared_client: TestClient, body: dict[str, Any], status: int, param: str | None
) -> None:
    code = shared_client.post(ROUTE, json=body).json()["error"]["code"]
    assert isinstance(code, str)
    assert code


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"[]", b"null", b'{"prompt": "a",}', b"\xff\xfe"]
)
def test_body_parse_errors_have_a_code(shared_client: TestClient, raw: bytes) -> None:
    resp = shared_client.post(ROUTE, content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] in {"invalid_json", "invalid_body"}


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"prompt": "\\ud800"}', "prompt"),
        (b'{"prompt": "a fox", "negative_prompt": "\\udc00 fog"}', "negative_prompt"),
        (b'{"prompt": "\\u0000\\u001b\\u007f"}', "prompt"),
        ('{"prompt": "ok", "size": "٦٤x٦٤"}'.encode(), "size"),
    ],
)
def test_unusable_text_is_400_before_the_queue(
    shared_client: TestClient, raw: bytes, param: str
) -> None:
    resp = shared_client.post(ROUTE, content=raw, headers={"content-type": "application/json"})
    assert_envelope(resp, 400, param)
    metrics = shared_client.get("/metrics").text
    assert "backend_lease_wait_seconds_count 0.0" in metrics  # never took the lease
