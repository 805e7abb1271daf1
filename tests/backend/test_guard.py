"""The request guard over real HTTP (raw sockets): the key before the body, the body cap, the
body read timeout; and the server's header read timeout (backend/server.py)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from backend import Settings, create_app

pytestmark = pytest.mark.timeout(300)

KEY = "sk-guard"
ROUTE = "/v1/images/generations"


@pytest.fixture
def served(
    settings_factory: Callable[..., Settings], live_server: Callable[..., Any]
) -> Iterator[tuple[str, int]]:
    # The guard answers before the model matters: no need to wait for it to load.
    settings = settings_factory(api_key=KEY, read_timeout=1.0, max_body_bytes=4096)
    with live_server(create_app(settings)) as url:
        parsed = urlparse(url)
        assert parsed.hostname is not None
        assert parsed.port is not None
        yield parsed.hostname, parsed.port


def _exchange(
    address: tuple[str, int], head: bytes, body: bytes = b""
) -> tuple[int, dict[str, Any], float]:
    """Send ``head`` (and ``body``, possibly short of its Content-Length); return the status,
    the JSON body and the seconds until the answer."""
    with socket.create_connection(address, timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - start
    status_line, _, rest = data.partition(b"\r\n")
    payload = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(payload), elapsed


def _head(length: int | None, key: str | None = None, chunked: bool = False) -> bytes:
    lines = [f"POST {ROUTE} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_key_is_checked_before_the_body_is_read(served: tuple[str, int]) -> None:
    # 200 MB declared, none of it sent: the answer cannot wait for the body.
    status, body, elapsed = _exchange(served, _head(200 * 1024 * 1024))
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert elapsed < 0.9  # before the 1 s body timeout could have answered
    print(f"401 for a 200 MB body without the key after {elapsed * 1000:.1f} ms")


def test_a_declared_body_over_the_cap_is_413_at_once(served: tuple[str, int]) -> None:
    status, body, elapsed = _exchange(served, _head(200 * 1024 * 1024, KEY))
    assert status == 413
    assert body["error"]["code"] == "body_too_large"
    assert "BACKEND_MAX_BODY_BYTES" in body["error"]["message"]
    assert elapsed < 0.9


def test_a_chunked_body_over_the_cap_is_413(served: tuple[str, int]) -> None:
    chunk = b"x" * 3000
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3))
    status, body, _ = _exchange(served, _head(None, KEY, chunked=True), framed)
    assert status == 413
    assert body["error"]["code"] == "body_too_large"


def test_a_stalled_body_is_408_after_the_read_timeout(served: tuple[str, int]) -> None:
    status, body, elapsed = _exchange(served, _head(100, KEY), b'{"prompt": ')
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert 0.9 < elapsed < 10
    print(f"stalled body answered 408 after {elapsed:.2f} s")


def test_stalled_headers_are_closed_after_the_read_timeout(served: tuple[str, int]) -> None:
    socks = [socket.create_connection(served, timeout=30) for _ in range(20)]
    try:
        start = time.monotonic()
        for sock in socks:
            sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: te")
        closed = [sock.recv(1) for sock in socks]  # b"" once the server closes
        elapsed = time.monotonic() - start
    finally:
        for sock in socks:
            sock.close()
    assert closed == [b""] * 20
    assert 0.9 < elapsed < 10
    print(f"20 stalled header senders closed after {elapsed:.2f} s")


def test_a_normal_client_is_unaffected(served: tuple[str, int]) -> None:
    host, port = served
    resp = httpx.get(f"http://{host}:{port}/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert resp.status_code == 200
