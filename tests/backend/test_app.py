"""Over real HTTP (uvicorn on a loopback port): the official openai client, and 50 at once."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from backend import Settings

pytestmark = pytest.mark.timeout(300)


def test_openai_client_round_trip(
    settings_factory: Callable[..., Settings], ready_server: Callable[[Settings], Any]
) -> None:
    key = "sk-local"
    with ready_server(settings_factory(api_key=key)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        try:
            result = client.images.generate(
                prompt="a red fox in the snow",
                model="tiny-sd",
                n=2,
                size="64x64",
                response_format="b64_json",
                extra_body={"seed": 5, "num_inference_steps": 2},
            )
            assert result.created > 0
            assert result.data is not None
            assert len(result.data) == 2
            for item in result.data:
                assert item.b64_json is not None
                image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
                assert image.size == (64, 64)

            by_url = client.images.generate(
                prompt="a lighthouse", response_format="url", extra_body={"num_inference_steps": 1}
            )
            assert by_url.data is not None
            link = by_url.data[0].url
            assert link is not None
            assert link.startswith(f"{url}/images/")
            png = httpx.get(link)
            assert png.status_code == 200
            assert Image.open(io.BytesIO(png.content)).format == "PNG"

            models = client.models.list()
            assert [m.id for m in models.data] == ["tiny-sd"]
            assert client.models.retrieve("tiny-sd").id == "tiny-sd"
            with pytest.raises(openai.NotFoundError):
                client.models.retrieve("dall-e-3")

            # Errors surface as the client's typed exceptions, with our envelope parsed.
            with pytest.raises(openai.BadRequestError) as bad:
                client.images.generate(prompt="x", size="100x100")
            assert bad.value.param == "size"
            with pytest.raises(openai.NotFoundError):
                client.images.generate(prompt="x", model="dall-e-3")
            wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="nope", max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                wrong.images.generate(prompt="x")
        finally:
            client.close()


def test_fifty_simultaneous_requests_are_all_answered(
    settings_factory: Callable[..., Settings], ready_server: Callable[[Settings], Any]
) -> None:
    total = 50
    with ready_server(settings_factory(queue_size=4)) as url:
        limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
        with httpx.Client(base_url=url, timeout=240, limits=limits) as http:

            def one(i: int) -> httpx.Response:
                body = {"prompt": f"prompt {i}", "num_inference_steps": 2, "seed": i}
                return http.post("/v1/images/generations", json=body)

            with ThreadPoolExecutor(max_workers=total) as pool:
                responses = list(pool.map(one, range(total)))

            assert len(responses) == total
            statuses = [r.status_code for r in responses]
            assert set(statuses) <= {200, 429}, statuses
            ok = [r for r in responses if r.status_code == 200]
            refused = [r for r in responses if r.status_code == 429]
            assert ok, "nothing was served"
            for r in ok:
                assert len(r.json()["data"]) == 1
            for r in refused:
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["error"]["code"] == "queue_full"
                assert r.json()["error"]["type"] == "rate_limit_error"

            # Still serving, and the metrics agree with what the clients saw.
            after = http.post("/v1/images/generations", json={"prompt": "after"})
            assert after.status_code == 200
            metrics = http.get("/metrics").text
            assert _sample(metrics, "backend_queue_rejections_total") == len(refused)
            assert _sample(metrics, "backend_images_generated_total") == len(ok) + 1
            assert _sample(metrics, "backend_queue_depth") == 0
            assert http.get("/healthz").status_code == 200


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, name
    return float(match.group(1))
