"""The API over real HTTP (uvicorn on a loopback port): every field's validation, the envelope,
paths, paging and the key. None of this needs a Docker engine: refusals come before any."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from jobs import store
from tests.jobs.jobs_helpers import live_server

GOOD: dict[str, Any] = {"image": "gpu-share-job-test:1", "script": "echo hi"}


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return dict(body["error"])


def _refused(http: httpx.Client, change: dict[str, Any], param: str, *words: str) -> str:
    error = _error(http.post("/v1/jobs", json={**GOOD, **change}), 422)
    assert error["param"] == param, error
    for word in words:
        assert word in error["message"], error
    return str(error["message"])


@pytest.mark.parametrize(
    ("change", "param", "words"),
    [
        ({"image": "Not An Image"}, "image", ("not an image reference",)),
        ({"image": ""}, "image", ()),
        ({"files": [{"path": "/etc/passwd", "content": "x"}]}, "files.0.path", ("absolute",)),
        ({"files": [{"path": "a/../../x", "content": "x"}]}, "files.0.path", ("'..'",)),
        ({"files": [{"path": "a\x00b", "content": "x"}]}, "files.0.path", ("NUL",)),
        ({"files": [{"path": "", "content": "x"}]}, "files.0.path", ("empty",)),
        (
            {"files": [{"path": "a.txt", "content": "x"}, {"path": "./a.txt", "content": "y"}]},
            "files",
            ("'a.txt' is given twice",),
        ),
        ({"files": [{"path": "run.sh", "content": "x"}]}, "files", ("reserved",)),
        (
            {"files": [{"path": "b.bin", "content": "not base64!", "encoding": "base64"}]},
            "files.0",
            ("'b.bin'", "base64"),
        ),
        ({"files": [{"path": "a", "content": "x", "mode": 7}]}, "files.0.mode", ()),
        ({"script": None}, None, ("exactly one of script",)),
        ({"command": ["true"]}, None, ("exactly one of script",)),
        ({"script": None, "command": []}, "command", ("empty",)),
        ({"result_file": "/out.json"}, "result_file", ("absolute",)),
        ({"result_file": "../out.json"}, "result_file", ("'..'",)),
        ({"timeout": 0}, "timeout", ()),
        ({"timeout": -5}, "timeout", ()),
        ({"timeout": "soon"}, "timeout", ()),
        ({"resources": {"cpu": -1}}, "resources.cpu", ("non-negative integer",)),
        ({"resources": {"cpu": "two"}}, "resources.cpu", ("'two'",)),
        ({"resources": {"cpu": 1.5}}, "resources.cpu", ("integer",)),
        ({"resources": {"cpu": True}}, "resources.cpu", ("integer",)),
        ({"resources": {"gpu": "one"}}, "resources.gpu", ("'one'",)),
        ({"resources": {"ram": "12XB"}}, "resources.ram", ("512MB", "'12XB'")),
        ({"resources": {"ram": "lots"}}, "resources.ram", ("a size like",)),
        ({"resources": {"ram": 0}}, "resources.ram", ("above zero",)),
        ({"resources": {"storage": "1 parsec"}}, "resources.storage", ("a size like",)),
        ({"resources": {"gpu_memory": "4 bananas"}}, "resources.gpu_memory", ("a size like",)),
        ({"resources": {"gpu_memory": "1GB"}}, "resources", ("gpu is 0",)),
        ({"resources": {"gpu": 2}}, "resources", ("one device",)),
        ({"resources": {"disk": "1GB"}}, "resources.disk", ()),
        ({"lease": "borrowed"}, "lease", ()),
        ({"network": "maybe"}, "network", ()),
        ({"name": "has spaces"}, "name", ("letters, digits",)),
        ({"name": "x" * 101}, "name", ()),
        ({"baseline": 7}, "baseline", ()),
        ({"colour": "red"}, "colour", ()),
    ],
)
def test_every_field_is_validated_with_its_name(
    api: tuple[httpx.Client, Any], change: dict[str, Any], param: str | None, words: tuple[str, ...]
) -> None:
    http, _ = api
    _refused(http, change, param, *words)  # type: ignore[arg-type]


def test_missing_image_is_named(api: tuple[httpx.Client, Any]) -> None:
    http, _ = api
    error = _error(http.post("/v1/jobs", json={"script": "true"}), 422)
    assert error["param"] == "image"


def test_malformed_json_is_400(api: tuple[httpx.Client, Any]) -> None:
    http, _ = api
    answer = http.post(
        "/v1/jobs", content=b'{"image": ', headers={"content-type": "application/json"}
    )
    assert _error(answer, 400)["code"] == "invalid_json"


def test_limits_of_the_settings_name_the_file(settings_factory: Any) -> None:
    settings = settings_factory(
        max_file_bytes=10, max_files_bytes=15, default_timeout=30, max_timeout=60, max_files=2
    )
    with live_server(settings) as (url, _), httpx.Client(base_url=url) as http:
        big = {
            "files": [{"path": "ok.txt", "content": "1"}, {"path": "big.txt", "content": "x" * 11}]
        }
        message = _refused(http, big, "files.1.content", "'big.txt'", "11 bytes", "10")
        assert "limit" in message
        total = {"files": [{"path": "a", "content": "x" * 8}, {"path": "b", "content": "y" * 8}]}
        _refused(http, total, "files", "16 bytes", "15")
        many = {"files": [{"path": f"f{i}", "content": ""} for i in range(3)]}
        _refused(http, many, "files", "3 files")
        _refused(http, {"timeout": 61}, "timeout", "61 s", "60 s")
        b64 = base64.b64encode(b"x" * 11).decode()
        _refused(
            http,
            {"files": [{"path": "b.bin", "content": b64, "encoding": "base64"}]},
            "files.0.content",
            "11 bytes",
        )


def test_a_file_where_another_needs_a_folder_is_named(api: tuple[httpx.Client, Any]) -> None:
    http, service = api
    if service.client is None:
        pytest.skip("files are written after the engine check: no engine here")
    files = [{"path": "a", "content": "x"}, {"path": "a/b", "content": "y"}]
    _refused(http, {"files": files}, "files.1.path", "'a/b'", "cannot be written")
    assert list(service.jobs_dir.iterdir()) == []  # nothing half-written is left


def test_network_is_refused_unless_the_service_allows_it(api: tuple[httpx.Client, Any]) -> None:
    http, _ = api
    _refused(http, {"network": True}, "network", "JOBS_ALLOW_NETWORK")


def test_never_fits_names_the_resource_and_both_figures(api: tuple[httpx.Client, Any]) -> None:
    http, service = api
    host = service.host()
    error = _error(http.post("/v1/jobs", json={**GOOD, "resources": {"cpu": 4096}}), 422)
    assert error["code"] == "exceeds_host"
    assert error["param"] == "resources.cpu"
    assert "4096 CPUs requested" in error["message"]
    assert f"this host has {host.cpus}" in error["message"]
    error = _error(http.post("/v1/jobs", json={**GOOD, "resources": {"ram": "64TiB"}}), 422)
    assert error["param"] == "resources.ram"
    assert "64.0 TiB requested" in error["message"]
    assert "of RAM" in error["message"]
    error = _error(http.post("/v1/jobs", json={**GOOD, "resources": {"storage": "900TiB"}}), 422)
    assert error["param"] == "resources.storage"
    if not host.gpus:
        error = _error(http.post("/v1/jobs", json={**GOOD, "resources": {"gpu": 1}}), 422)
        assert error["param"] == "resources.gpu"
        assert "1 GPU requested, this host has 0" in error["message"]


def test_unknown_baseline_is_refused(api: tuple[httpx.Client, Any]) -> None:
    http, service = api
    if service.client is None:
        pytest.skip("the baseline is checked after the engine: none here")
    _refused(http, {"baseline": "nosuchjob"}, "baseline", "'nosuchjob'")


def test_paths_and_unknown_ids_answer_in_the_envelope(api: tuple[httpx.Client, Any]) -> None:
    http, service = api
    assert _error(http.get("/v1/jobs/nope"), 404)["code"] == "not_found"
    assert _error(http.delete("/v1/jobs/nope"), 404)["code"] == "not_found"
    assert _error(http.get("/v1/jobs/nope/logs"), 404)["code"] == "not_found"
    assert _error(http.get("/nowhere"), 404)["message"] == "no route GET /nowhere"
    assert _error(http.put("/v1/jobs"), 405)["code"] == "method_not_allowed"
    record = service.store.create(None, {**GOOD, "timeout": 300}, name=None, detail="test")
    output = service.folder(record.id) / "output"
    output.mkdir(parents=True)
    (output / "sub").mkdir()
    (output / "sub" / "r.txt").write_text("inside")
    (service.data_dir / "secret.txt").write_text("outside")
    (output / "link").symlink_to(service.data_dir / "secret.txt")
    assert http.get(f"/v1/jobs/{record.id}/files/sub/r.txt").text == "inside"
    for escape in ("../../secret.txt", "%2E%2E/%2E%2E/secret.txt", "link", "sub/../../x"):
        error = _error(http.get(f"/v1/jobs/{record.id}/files/{escape}"), 404)
        assert "outside" not in error["message"]
    assert (
        "no output file" in _error(http.get(f"/v1/jobs/{record.id}/files/missing"), 404)["message"]
    )


def test_list_is_newest_first_filtered_and_paged(api: tuple[httpx.Client, Any]) -> None:
    http, service = api
    ids = []
    for i in range(7):
        record = service.store.create(
            None, {**GOOD, "timeout": 300}, name="even" if i % 2 == 0 else "odd", detail="t"
        )
        ids.append(record.id)
    service.store.transition(ids[0], store.CANCELLED, "test")
    page = http.get("/v1/jobs", params={"limit": 3}).json()
    assert [job["id"] for job in page["data"]] == ids[::-1][:3]
    assert page["total"] == 7
    assert page["has_more"] is True
    rest = http.get("/v1/jobs", params={"limit": 3, "offset": 6}).json()
    assert [job["id"] for job in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False
    evens = http.get("/v1/jobs", params={"name": "even"}).json()
    assert [job["id"] for job in evens["data"]] == [ids[6], ids[4], ids[2], ids[0]]
    cancelled = http.get("/v1/jobs", params={"status": "cancelled"}).json()
    assert [job["id"] for job in cancelled["data"]] == [ids[0]]
    assert _error(http.get("/v1/jobs", params={"status": "done"}), 422)["param"] == "status"
    assert _error(http.get("/v1/jobs", params={"limit": 0}), 422)["param"] == "limit"
    assert _error(http.get("/v1/jobs", params={"limit": 201}), 422)["param"] == "limit"
    assert _error(http.get("/v1/jobs", params={"offset": -1}), 422)["param"] == "offset"


def test_queued_jobs_show_their_position_and_cancel_is_recorded(
    api: tuple[httpx.Client, Any],
) -> None:
    http, service = api
    first = service.store.create(None, {**GOOD, "timeout": 300}, name=None, detail="t")
    second = service.store.create(None, {**GOOD, "timeout": 300}, name=None, detail="t")
    # Not started: this test's records bypass the scheduler (its pass would start them).
    assert service.queue_position(first.id) == 1
    assert http.get(f"/v1/jobs/{second.id}").json()["queue_position"] == 2
    answer = http.delete(f"/v1/jobs/{first.id}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    job = http.get(f"/v1/jobs/{first.id}").json()
    assert [e["status"] for e in job["events"]] == ["queued", "cancelled"]
    assert "before it started" in job["events"][-1]["detail"]
    assert http.get(f"/v1/jobs/{second.id}").json()["queue_position"] == 1
    assert _error(http.delete(f"/v1/jobs/{first.id}"), 409)["code"] == "conflict"


def test_api_key(settings_factory: Any) -> None:
    with (
        live_server(settings_factory(api_key="sesame")) as (url, _),
        httpx.Client(base_url=url) as http,
    ):
        assert http.get("/healthz").status_code == 200
        for method, path in (("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/x")):
            error = _error(http.request(method, path, json=GOOD), 401)
            assert error["code"] == "invalid_api_key"
        wrong = http.get("/v1/jobs", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        right = http.get("/v1/jobs", headers={"Authorization": "Bearer sesame"})
        assert right.status_code == 200, right.text


def test_without_an_engine_container_jobs_are_refused_with_the_reason(
    settings_factory: Any,
) -> None:
    settings = settings_factory()
    from jobs.app import create_app  # noqa: F401  (the service below is the app's)

    with live_server(settings) as (url, service), httpx.Client(base_url=url) as http:
        service.client = None
        service.engine_error = "container jobs are refused: no Docker engine answers (test)"
        error = _error(http.post("/v1/jobs", json=GOOD), 503)
        assert "no Docker engine answers" in error["message"]
        health = http.get("/healthz").json()
        assert health["docker"] is False
        assert "no Docker engine" in health["docker_error"]
