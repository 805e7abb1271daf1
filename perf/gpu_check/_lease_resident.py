"""``python -m perf.gpu_check._lease_resident SPEC RESULT``: the resident of ``lease-memory``.

A process that keeps a pipeline on the device, as the backend does: it loads
the SD 1.5-shaped pipeline (the tiny one in a dry run), registers as a
``gpu_coord.resident``, generates one image inside a lease released with
flush ``always``, then says what it holds with torch's own figures
(``Resident.update()``) and its measured peak as headroom. It writes those
figures to RESULT_PATH and stays registered until its stdin closes, so the
step reads the memory budget with a real model resident.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

OWNER = "sd15-resident"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m perf.gpu_check._lease_resident SPEC_JSON RESULT_PATH", file=sys.stderr
        )
        return 2
    spec = json.loads(argv[0])
    result = Path(argv[1])

    import torch

    from gpu_coord import lease, read_status, resident
    from imagegen import GenerationRequest, cuda_index, generate, lease_device
    from perf.contention._pipelines import load_for_benchmark

    device, path = str(spec["device"]), Path(spec["path"])
    loaded, load_seconds = load_for_benchmark(spec["kind"], device, Path(spec["models_dir"]))
    index = cuda_index(device)
    where = lease_device(device)
    request = GenerationRequest("a lighthouse at dusk", steps=int(spec["steps"]), seed=1)
    with resident(OWNER, device=where, path=path) as me:
        # Registered with torch's reserved bytes after the load (the weights): what it keeps.
        weights = me.resident_bytes
        if index is not None:
            torch.cuda.reset_peak_memory_stats(index)
        started = time.perf_counter()
        with lease(OWNER, path=path, device=where, flush="always") as held:
            generate(loaded, request)
            if index is not None:
                torch.cuda.synchronize(index)  # the image is done on the card, not only queued
            image_seconds = time.perf_counter() - started
        peak = int(torch.cuda.max_memory_reserved(index)) if index is not None else None
        last = read_status(path, device=where).get("last_release") or {}
        # What it holds now (torch's figures, the flush done) and what an image adds on top.
        me.update(headroom_bytes=max(0, peak - (weights or 0)) if peak is not None else 0)
        figures = {
            "pid": os.getpid(),
            "load_seconds": load_seconds,
            "image_seconds": image_seconds,
            "weights_bytes": weights,
            "resident_bytes": me.resident_bytes,
            "torch_allocated_bytes": me.torch_allocated_bytes,
            "headroom_bytes": me.headroom_bytes,
            "peak_reserved_bytes": peak,
            "handle_freed_bytes": held.freed_bytes,
            "last_release_freed_bytes": last.get("freed_bytes"),
        }
        partial = result.with_suffix(".partial")
        partial.write_text(json.dumps(figures), encoding="utf-8")
        partial.replace(result)  # whole or absent: the step polls for it
        sys.stdin.read()  # resident until the step closes our stdin
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
