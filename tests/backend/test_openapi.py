"""The OpenAPI document describes the API as it answers, and schemathesis agrees (real HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend import Settings, create_app

pytestmark = pytest.mark.timeout(600)

GEN = "/v1/images/generations"
# Bounded: examples per operation (and per phase); a few hundred requests in all.
MAX_EXAMPLES = 25


def _document(settings: Settings) -> dict[str, Any]:
    # No lifespan: the document needs no model (and a load left running would overlap the next).
    document: dict[str, Any] = TestClient(create_app(settings)).get("/openapi.json").json()
    return document


def test_the_document_lists_the_real_answers(settings_factory: Callable[..., Settings]) -> None:
    doc = _document(settings_factory(api_key="sk-x", max_prompt_chars=77, max_n=3))
    text = str(doc)
    assert "422" not in doc["paths"][GEN]["post"]["responses"]
    assert "HTTPValidationError" not in text
    responses = doc["paths"][GEN]["post"]["responses"]
    for status in ("200", "400", "401", "404", "408", "413", "429", "500", "503", "504"):
        assert status in responses, status
    for status in ("400", "401", "429", "503", "504"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, status
    assert "Retry-After" in responses["429"]["headers"]
    envelope = doc["components"]["schemas"]["ErrorDetail"]
    assert envelope["required"] == ["message", "type", "param", "code"]
    metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    props = doc["components"]["schemas"]["ImageGenerationRequest"]["properties"]
    assert props["prompt"]["minLength"] == 1
    assert props["prompt"]["maxLength"] == 77
    n = next(b for b in props["n"]["anyOf"] if b.get("type") == "integer")
    assert n["maximum"] == 3
    assert doc["paths"][GEN]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    jobs = doc["paths"]["/v1/images/jobs"]
    assert set(jobs) == {"get", "post"}
    assert "202" in jobs["post"]["responses"]
    assert "429" in jobs["post"]["responses"]
    assert jobs["post"]["security"] == [{"bearer": []}]
    job = doc["paths"]["/v1/images/jobs/{job_id}"]
    assert set(job) == {"get", "delete"}
    assert "404" in job["get"]["responses"]
    events = doc["paths"]["/v1/images/jobs/{job_id}/events"]["get"]["responses"]
    assert list(events["200"]["content"]) == ["text/event-stream"]
    assert "204" in events
    assert "gpu_out_of_memory" in responses["503"]["description"]


def test_schemathesis_finds_nothing(
    settings_factory: Callable[..., Settings],
    ready_server: Callable[[Settings], Any],
    tmp_path: Path,
) -> None:
    # Small limits keep each generated image cheap on the CPU; the document states them all.
    settings = settings_factory(
        api_key="sk-schema", min_size=64, max_size=128, max_steps=3, max_n=2, max_prompt_chars=40
    )
    with ready_server(settings) as url:
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "1",
            "--header",
            "Authorization: Bearer sk-schema",
            "--request-timeout",
            "120",
            "--no-color",
            "--suppress-health-check",
            "all",
        ]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "HOME": str(tmp_path)}
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=540, cwd=tmp_path, env=env
        )
    output = result.stdout + result.stderr
    print(output[-3000:])
    assert result.returncode == 0, output[-8000:]
