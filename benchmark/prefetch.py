"""Pulling the configured models and scorer weights into the Hugging Face cache ahead of a run.

Pipelines are fetched with ``DiffusionPipeline.download`` (built on
``huggingface_hub``), which picks exactly the files ``from_pretrained`` will read
for the configured variant; the scorers that ``[scorers] enabled`` lists: the
CLIP models (CLIP, PickScore, the LAION ViT-H-14 processor and config) with
``snapshot_download`` limited to safetensors, configs and tokenizer files (the
ViT-H-14 repo for HPS to its configs and tokenizer: HPS brings its own weights),
the aesthetic head and the HPS v2.1 checkpoint with ``hf_hub_download``. Local
folders are skipped. ``HF_HOME`` and ``HF_TOKEN`` apply.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from benchmark.config import BenchmarkConfig

log = logging.getLogger("benchmark.prefetch")

_CLIP_FILES = ["*.json", "*.txt", "*.safetensors"]
_CONFIG_FILES = ["*.json", "*.txt"]  # config, processor and tokenizer: no weights


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
        wanted: dict[str, tuple[str, list[str] | str]] = {}  # repo -> (label, patterns | file)
        uses = set(sc.enabled)

        def want(repo: str, label: str, what: list[str] | str) -> None:
            if _is_local(repo):
                return
            known = wanted.get(repo)
            # One repo may serve two scorers (the ViT-H-14 processor): fetch the wider set.
            if known is None or (isinstance(what, list) and what == _CLIP_FILES):
                wanted[repo] = (label, what)

        if uses & {"clip", "aesthetic"}:
            want(sc.clip_model, f"CLIP {sc.clip_model}", _CLIP_FILES)
        if "aesthetic" in uses:
            want(sc.aesthetic_head, f"aesthetic head {sc.aesthetic_head}", sc.aesthetic_file)
        if "pickscore" in uses:
            want(sc.pickscore_model, f"PickScore {sc.pickscore_model}", _CLIP_FILES)
            want(sc.pickscore_processor, f"processor {sc.pickscore_processor}", _CONFIG_FILES)
        if "hps" in uses:
            want(sc.hps_checkpoint, f"HPS {sc.hps_checkpoint}/{sc.hps_file}", sc.hps_file)
            want(sc.hps_architecture, f"architecture {sc.hps_architecture}", _CONFIG_FILES)
        jobs = []
        for repo, (label, what) in wanted.items():
            if isinstance(what, str):
                jobs.append((label, lambda r=repo, f=what: hf_hub_download(r, f, token=token)))
            else:
                jobs.append((label, lambda r=repo, p=what: snapshot_download(
                    r, allow_patterns=p, token=token)))  # fmt: skip
        for number, (label, fetch) in enumerate(jobs, start=1):
            label = f"[{number}/{len(jobs)}] {label}"
            log.info("scorer %s: fetching", label)
            try:
                log.info("scorer %s: ready in %s", label, fetch())
            except Exception as exc:
                failures.append(f"scorer {label}: {type(exc).__name__}: {exc}")
                log.error("scorer %s: failed: %s", label, exc)
    return failures
