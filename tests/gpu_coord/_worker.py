"""Child process for the gpu_coord tests: ``python _worker.py COMMAND JSON-ARGS``.

Every line it prints is one JSON object. Times are CLOCK_MONOTONIC nanoseconds,
which all processes on the host share.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def say(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def make(args: dict[str, Any], priority: str | None = None) -> Any:
    scheme = args.get("scheme", "gpu_coord")
    owner = args.get("owner", "worker")
    prio = priority or args.get("priority", "low")
    if scheme == "gpu_coord":
        from gpu_coord import lease

        return lease(
            owner,
            priority=prio,
            path=args["path"],
            max_wait=args.get("max_wait"),
            timeout=args.get("timeout"),
        )
    from perf import baselines

    return baselines.make(scheme, owner, priority=prio, path=args["path"])


def stress(args: dict[str, Any]) -> None:
    """Acquire n times; inside, an O_EXCL marker file detects any overlap."""
    marker = Path(args["marker"])
    overlaps = 0
    generations: list[int] = []
    for i in range(args["n"]):
        priority = args["priority"] if args["priority"] != "mixed" else ("high", "low")[i % 2]
        with make(args, priority) as held:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                overlaps += 1
                fd = -1
            if held.generation is not None:
                generations.append(held.generation)
            for _ in range(args.get("spin", 0)):
                pass
            if fd >= 0:
                os.close(fd)
                os.unlink(marker)
    say(overlaps=overlaps, generations=generations)


def grant_log(args: dict[str, Any]) -> None:
    """Acquire once, log the grant, hold until ``release_file`` exists (or ``hold`` s)."""
    held = make(args)
    say(event="asking", t=now_ns())
    held.acquire()
    line = json.dumps(
        {
            "owner": held.owner,
            "priority": held.priority,
            "t": now_ns(),
            "generation": held.generation,
            "forced": held.forced,
        }
    )
    with open(args["log"], "a") as log:
        log.write(line + "\n")
    say(
        event="granted",
        t=now_ns(),
        generation=held.generation,
        forced=held.forced,
        wait_seconds=held.wait_seconds,
    )
    release_file = args.get("release_file")
    end = time.monotonic() + args.get("hold", 0.0)
    while (release_file and not os.path.exists(release_file)) or time.monotonic() < end:
        time.sleep(0.002)
    say(event="releasing", t=now_ns())
    held.release()
    say(event="released", t=now_ns())


def steps(args: dict[str, Any]) -> None:
    """A low holder doing n steps of ``step_ms`` work, checkpointing after each."""
    held = make(args)
    done: list[int] = []
    checkpoints: list[dict[str, Any]] = []
    with held:
        say(event="granted", t=now_ns(), generation=held.generation)
        total = 0
        for step in range(args["n"]):
            end = time.monotonic() + args["step_ms"] / 1000
            while time.monotonic() < end:
                time.sleep(0.0005)
            total += step  # the state that must survive a yield
            done.append(step)
            before = now_ns()
            yielded = held.checkpoint()
            checkpoints.append(
                {"step": step, "t": before, "yielded": yielded, "generation": held.generation}
            )
            if yielded:
                say(event="resumed", step=step, t=now_ns())
    say(
        event="done",
        done=done,
        total=total,
        yields=held.yields,
        wait_seconds=held.wait_seconds,
        checkpoints=checkpoints,
    )


def resident(args: dict[str, Any]) -> None:
    """Register as a resident, say so, and stay until killed (or ``hold`` seconds)."""
    from gpu_coord import resident as register

    with register(
        args.get("owner", "worker"),
        path=args["path"],
        device=args.get("device"),
        resident_bytes=args.get("resident_bytes"),
        headroom_bytes=args.get("headroom_bytes", 0),
    ):
        say(event="resident", pid=os.getpid())
        time.sleep(args.get("hold", 3600))


def main() -> None:
    command, args = sys.argv[1], json.loads(sys.argv[2])
    {"stress": stress, "grant_log": grant_log, "steps": steps, "resident": resident}[command](args)


if __name__ == "__main__":
    main()
