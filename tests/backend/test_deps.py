"""With BACKEND_API_KEY set, generation routes need the bearer key; the probes stay open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import Settings

pytestmark = pytest.mark.timeout(300)

KEY = "sk-test-0123456789"


@pytest.fixture
def keyed(
    settings_factory: Callable[..., Settings], ready_client: Callable[[Settings], Any]
) -> Iterator[TestClient]:
    with ready_client(settings_factory(api_key=KEY)) as c:
        yield c


GEN = {"prompt": "a fox", "num_inference_steps": 1}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": "Bearer "},
    ],
)
def test_generation_without_the_key_is_401(keyed: TestClient, headers: dict[str, str]) -> None:
    for method, path, body in (
        ("POST", "/v1/images/generations", GEN),
        ("GET", "/v1/models", None),
    ):
        resp = keyed.request(method, path, json=body, headers=headers)
        assert resp.status_code == 401, (path, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "invalid_api_key"
        assert error["type"] == "invalid_request_error"
        assert resp.headers["www-authenticate"] == "Bearer"
    # Refused requests generate nothing.
    assert "backend_images_generated_total 0.0" in keyed.get("/metrics").text


def test_the_right_key_is_served(keyed: TestClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    assert keyed.post("/v1/images/generations", json=GEN, headers=auth).status_code == 200
    assert (
        keyed.post(
            "/v1/images/generations", json=GEN, headers={"authorization": f"bearer {KEY}"}
        ).status_code
        == 200
    )
    assert keyed.get("/v1/models", headers=auth).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/gpu-status", "/metrics"])
def test_open_routes_need_no_key(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/gpu-status", "/metrics", "/docs", "/openapi.json", "/redoc"])
def test_protect_status_puts_status_and_docs_behind_the_key(
    settings_factory: Callable[..., Settings], ready_client: Callable[[Settings], Any], path: str
) -> None:
    with ready_client(settings_factory(api_key=KEY, protect_status=True)) as c:
        refused = c.get(path)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert c.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        for probe in ("/healthz", "/readyz"):  # orchestrators probe without a key
            assert c.get(probe).status_code == 200
