"""The envelope and the handlers, on a tiny FastAPI app, for each service's parameters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from servekit import (
    APIError,
    NotFound,
    Unauthorized,
    envelope,
    error_response,
    install_error_handlers,
)

LOGGER = "servekit-test"


class Teapot(APIError):
    status_code = 418
    error_type = "invalid_request_error"
    code = "teapot"


class Size(BaseModel):
    width: int = Field(ge=8)
    height: int = Field(ge=8)


class Body(BaseModel):
    prompt: str
    size: Size


def make_app(validation_status: int, body_code: str) -> FastAPI:
    app = FastAPI()
    install_error_handlers(
        app,
        logger=logging.getLogger(LOGGER),
        validation_status=validation_status,
        body_code=body_code,
    )

    @app.post("/things")
    def create(body: Body) -> dict[str, str]:
        return {"prompt": body.prompt}

    @app.get("/things/{name}")
    def read(name: str) -> dict[str, str]:
        if name == "teapot":
            raise Teapot("short and stout", param="name", headers={"X-Tea": "earl grey"})
        if name == "coded":
            raise NotFound(f"no thing {name!r}", code="no_such_thing")
        if name == "locked":
            raise Unauthorized("no key", headers={"WWW-Authenticate": "Bearer"})
        if name == "boom":
            raise RuntimeError("secret detail")
        raise NotFound(f"no thing {name!r}", param="name")

    @app.delete("/things/{name}")
    def delete(name: str) -> None:
        raise APIError("the base class is a 500")

    return app


@pytest.fixture(params=[(400, "invalid_body"), (422, "invalid_value")], ids=["backend", "jobs"])
def style(request: pytest.FixtureRequest) -> tuple[int, str]:
    status, code = request.param
    return int(status), str(code)


@pytest.fixture
def client(style: tuple[int, str]) -> Iterator[TestClient]:
    with TestClient(make_app(*style), raise_server_exceptions=False) as http:
        yield http


def error_of(resp: Any, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def test_envelope_has_the_four_fields() -> None:
    assert envelope("m", "t") == {
        "error": {"message": "m", "type": "t", "param": None, "code": None}
    }
    assert envelope("m", "t", "p", "c")["error"] == {
        "message": "m",
        "type": "t",
        "param": "p",
        "code": "c",
    }


def test_error_response_merges_the_extra_headers() -> None:
    resp = error_response(Teapot("x", headers={"A": "1"}), {"B": "2"})
    assert resp.status_code == 418
    assert resp.headers["a"] == "1"
    assert resp.headers["b"] == "2"


def test_an_api_error_keeps_its_status_param_code_and_headers(client: TestClient) -> None:
    resp = client.get("/things/teapot")
    assert error_of(resp, 418) == {
        "message": "short and stout",
        "type": "invalid_request_error",
        "param": "name",
        "code": "teapot",
    }
    assert resp.headers["X-Tea"] == "earl grey"


def test_the_shared_subclasses(client: TestClient) -> None:
    assert error_of(client.get("/things/nope"), 404)["code"] == "not_found"
    assert error_of(client.get("/things/coded"), 404)["code"] == "no_such_thing"
    resp = client.get("/things/locked")
    assert error_of(resp, 401)["code"] == "invalid_api_key"
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    base = error_of(client.delete("/things/x"), 500)
    assert (base["type"], base["code"]) == ("server_error", "internal_error")


def test_a_field_error_names_the_field_with_the_service_status(
    client: TestClient, style: tuple[int, str]
) -> None:
    status, _ = style
    error = error_of(
        client.post("/things", json={"prompt": "a", "size": {"width": 1, "height": 9}}), status
    )
    assert error["param"] == "size.width"
    assert error["code"] == "invalid_value"
    assert str(error["message"]).startswith("size.width: ")


def test_several_field_errors_list_the_others(client: TestClient, style: tuple[int, str]) -> None:
    error = error_of(client.post("/things", json={"size": {"width": 1, "height": 1}}), style[0])
    assert error["param"] == "prompt"
    assert "(also invalid: size.height, size.width)" in str(error["message"])


def test_a_body_that_fails_as_a_whole_has_the_service_code(
    client: TestClient, style: tuple[int, str]
) -> None:
    status, body_code = style
    error = error_of(client.post("/things", json=[1, 2]), status)
    assert error["param"] is None
    assert error["code"] == body_code
    assert str(error["message"]).startswith("request body: ")


def test_malformed_json_is_400_in_every_service(client: TestClient) -> None:
    resp = client.post(
        "/things", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    error = error_of(resp, 400)
    assert error["code"] == "invalid_json"
    assert str(error["message"]).startswith("request body is not valid JSON")


def test_no_route_is_a_404_naming_the_request(client: TestClient) -> None:
    error = error_of(client.get("/nowhere"), 404)
    assert error == {
        "message": "no route GET /nowhere",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }


def test_a_wrong_method_is_a_405_allowing_every_route_on_the_path(client: TestClient) -> None:
    resp = client.put("/things/x")
    assert error_of(resp, 405)["code"] == "method_not_allowed"
    assert resp.headers["Allow"] == "DELETE, GET, HEAD"


def test_an_unexpected_error_is_logged_not_shown(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        error = error_of(client.get("/things/boom"), 500)
    assert error["message"] == "internal error: RuntimeError"
    assert error["code"] == "internal_error"
    assert "secret detail" not in str(error)
    records = [r for r in caplog.records if r.name == LOGGER]
    assert records, "the traceback went nowhere"
    assert records[0].exc_info is not None
    assert "GET /things/boom" in records[0].getMessage()
