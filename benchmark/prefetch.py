"""Pulling the configured models and scorer weights into the Hugging Face cache ahead of a run.

Pipelines are fetched with ``DiffusionPipeline.download`` (built on
``huggingface_hub``), which picks exactly the files ``from_pretrained`` will read
for the configured variant; the CLIP scorer with ``snapshot_download`` limited to
its safetensors, configs and tokenizer files; the aesthetic head with
``hf_hub_download``. Local folders are skipped. ``HF_HOME`` and ``HF_TOKEN`` apply.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from benchmark.config import BenchmarkConfig

log = logging.getLogger("benchmark.prefetch")

_CLIP_FILES = ["*.json", "*.txt", "*.safetensors"]


def _is_local(source: str) -> bool:
    return Path(source).expanduser().exists() or source.startswith((".", "/", "~"))


def prefetch(
    config: BenchmarkConfig, *, models: list[str] | None = None, scorers: bool = True
) -> list[str]:
    """Download what ``config`` needs; returns one message per item that failed.

    Gated models are attempted only when ``HF_TOKEN`` is set (their licence must
    also be accepted on the hub with that account); otherwise they are reported
    as failed with that reason.
    """
    from diffusers import DiffusionPipeline
    from huggingface_hub import hf_hub_download, snapshot_download

    failures: list[str] = []
    specs = [m for m in config.models if models is None or m.name in models]
    token = os.environ.get("HF_TOKEN") or None
    for number, spec in enumerate(specs, start=1):
        label = f"[{number}/{len(specs)}] {spec.name} ({spec.source})"
        if _is_local(spec.source):
            log.info("%s: local folder, nothing to fetch", label)
            continue
        if spec.gated and token is None:
            failures.append(f"{spec.name}: gated repo {spec.source} needs HF_TOKEN")
            log.warning("%s: gated, skipped (set HF_TOKEN and accept its licence)", label)
            continue
        log.info("%s: fetching%s", label, f" (variant {spec.variant})" if spec.variant else "")
        started = time.monotonic()
        try:
            folder = DiffusionPipeline.download(spec.source, variant=spec.variant, token=token)
        except Exception as exc:  # the hub raises many types; report each and go on
            failures.append(f"{spec.name}: {type(exc).__name__}: {exc}")
            log.error("%s: failed: %s", label, exc)
            continue
        log.info("%s: ready in %s (%.0f s)", label, folder, time.monotonic() - started)
    if scorers and config.run.score:
        sc = config.scorers
        jobs = []
        if not _is_local(sc.clip_model):
            jobs.append(
                (f"CLIP {sc.clip_model}", lambda: snapshot_download(
                    sc.clip_model, allow_patterns=_CLIP_FILES, token=token))
            )  # fmt: skip
        if not _is_local(sc.aesthetic_head):
            jobs.append(
                (f"aesthetic head {sc.aesthetic_head}/{sc.aesthetic_file}", lambda: hf_hub_download(
                    sc.aesthetic_head, sc.aesthetic_file, token=token))
            )  # fmt: skip
        for label, fetch in jobs:
            log.info("scorer %s: fetching", label)
            try:
                log.info("scorer %s: ready in %s", label, fetch())
            except Exception as exc:
                failures.append(f"scorer {label}: {type(exc).__name__}: {exc}")
                log.error("scorer %s: failed: %s", label, exc)
    return failures
