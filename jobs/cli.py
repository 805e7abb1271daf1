"""``python -m jobs``: serve, or talk to a running service (submit, status, logs, cancel, list).

The client commands read ``JOBS_URL`` (default ``http://127.0.0.1:8001``) and ``JOBS_API_KEY``.
``submit`` takes the files and the script from the local disk.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8001"


class ClientError(Exception):
    """The service refused, or could not be reached; the message says which and why."""


class Client:
    """The API over plain HTTP (the standard library only)."""

    def __init__(self, url: str | None = None, api_key: str | None = None) -> None:
        self.url = (url or os.environ.get("JOBS_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("JOBS_API_KEY")

    def _request(self, method: str, path: str, body: Any = None) -> urllib.request.Request:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        return request

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            with urllib.request.urlopen(self._request(method, path, body), timeout=60) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ClientError(_error_text(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ClientError(f"cannot reach the jobs service at {self.url}: {exc}") from None

    def stream(self, path: str) -> Any:
        try:
            return urllib.request.urlopen(self._request("GET", path), timeout=3600)
        except urllib.error.HTTPError as exc:
            raise ClientError(_error_text(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ClientError(f"cannot reach the jobs service at {self.url}: {exc}") from None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
        return f"HTTP {exc.code}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code}: {exc.reason}"


def _file_entry(local: Path, remote: str) -> dict[str, str]:
    data = local.read_bytes()
    try:
        return {"path": remote, "content": data.decode("utf-8"), "encoding": "text"}
    except UnicodeDecodeError:
        return {"path": remote, "content": base64.b64encode(data).decode(), "encoding": "base64"}


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The POST body from the command line; files are read from the local disk."""
    files: list[dict[str, str]] = []
    for spec in args.file:
        local, _, remote = spec.partition(":")
        path = Path(local)
        if not path.is_file():
            raise ClientError(f"--file {spec}: {local} is not a file")
        files.append(_file_entry(path, remote or path.name))
    for folder in args.dir:
        root = Path(folder)
        if not root.is_dir():
            raise ClientError(f"--dir {folder}: not a folder")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files.append(_file_entry(path, path.relative_to(root).as_posix()))
    body: dict[str, Any] = {"image": args.image, "files": files}
    if args.script:
        script = Path(args.script)
        if not script.is_file():
            raise ClientError(f"--script {args.script}: not a file")
        body["script"] = script.read_text(encoding="utf-8")
    elif args.command:
        body["command"] = args.command
    else:
        raise ClientError("give --script FILE or a command after --")
    resources = {
        key: value
        for key, value in (
            ("cpu", args.cpu),
            ("gpu", args.gpu),
            ("ram", args.ram),
            ("storage", args.storage),
            ("gpu_memory", args.gpu_memory),
        )
        if value is not None
    }
    if resources:
        body["resources"] = resources
    for key in ("timeout", "name", "baseline", "result_file", "lease"):
        value = getattr(args, key)
        if value is not None:
            body[key] = value
    if args.network:
        body["network"] = True
    return body


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _wait(client: Client, job_id: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = client.call("GET", f"/v1/jobs/{job_id}")
        if job["status"] not in {"queued", "running", "paused"}:
            return job
        time.sleep(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help=f"the service (default $JOBS_URL or {DEFAULT_URL})")
    commands = parser.add_subparsers(dest="action")
    commands.add_parser("serve", help="run the service (the default)")
    submit = commands.add_parser("submit", help="submit a job from local files")
    submit.add_argument("--image", required=True)
    submit.add_argument("--script", help="a shell script, run as run.sh")
    submit.add_argument(
        "--file", action="append", default=[], help="LOCAL[:PATH] into the work folder"
    )
    submit.add_argument("--dir", action="append", default=[], help="a folder's files, recursively")
    submit.add_argument("--timeout", type=float)
    submit.add_argument("--cpu")
    submit.add_argument("--gpu")
    submit.add_argument("--ram")
    submit.add_argument("--storage")
    submit.add_argument("--gpu-memory", dest="gpu_memory")
    submit.add_argument("--lease", choices=["manager", "self"])
    submit.add_argument("--name")
    submit.add_argument("--baseline")
    submit.add_argument("--result-file", dest="result_file")
    submit.add_argument("--network", action="store_true")
    submit.add_argument("--wait", action="store_true", help="wait for the end, print the job")
    submit.add_argument("command", nargs="*", help="argv, after --, instead of --script")
    status = commands.add_parser("status", help="one job in full")
    status.add_argument("id")
    logs = commands.add_parser("logs", help="a job's log (followed while it runs)")
    logs.add_argument("id")
    logs.add_argument("--no-follow", action="store_true")
    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    listing = commands.add_parser("list", help="jobs, newest first")
    listing.add_argument("--status")
    listing.add_argument("--name")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--offset", type=int, default=0)
    return parser


def client_main(args: argparse.Namespace) -> int:
    client = Client(args.url)
    if args.action == "submit":
        answer = client.call("POST", "/v1/jobs", build_request(args))
        _print(_wait(client, answer["id"]) if args.wait else answer)
    elif args.action == "status":
        _print(client.call("GET", f"/v1/jobs/{args.id}"))
    elif args.action == "cancel":
        _print(client.call("DELETE", f"/v1/jobs/{args.id}"))
    elif args.action == "list":
        query = urllib.parse.urlencode(
            {
                k: v
                for k, v in {
                    "status": args.status,
                    "name": args.name,
                    "limit": args.limit,
                    "offset": args.offset,
                }.items()
                if v is not None
            }
        )
        _print(client.call("GET", f"/v1/jobs?{query}"))
    elif args.action == "logs":
        follow = "false" if args.no_follow else "true"
        with client.stream(f"/v1/jobs/{args.id}/logs?follow={follow}") as answer:
            for chunk in iter(lambda: answer.read1(65536), b""):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.action in (None, "serve"):
        from jobs.server import serve

        return serve()
    try:
        return client_main(args)
    except ClientError as exc:
        print(f"jobs: {exc}", file=sys.stderr)
        return 1
