"""One role of the contention benchmark, run as its own process (the backend or the runner).

``python -m perf.contention.role SPEC_JSON``: loads the pipeline, warms
it up, says ``ready`` and then obeys one JSON command per line on stdin,
answering one JSON line each on the protocol channel (the process's original
stdout; library chatter is sent to stderr so it cannot corrupt the channel).

Commands: ``pin`` (confine to CPU cores), ``run`` (one scenario window with a
scheme), ``flush_probe`` (CUDA only: per-policy flush cost and memory returned),
``checkpoint_overhead`` (images with nobody waiting, step-only against block
checkpoints), ``quit``. Times are ``time.monotonic()``, one clock for every process on a
Linux host, so the parent can start both roles on the same instant.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

# One OpenMP thread per process, set before torch loads: two pools spin-waiting on
# the same cores made a tiny generation 30x slower on a 2-core host.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_PR_SET_PDEATHSIG = 1
PROMPT = "a lighthouse on a cliff at dusk, oil painting"


class WindowOver(Exception):
    """Raised from the step hook when the scenario's window has closed mid-image."""


class Role:
    """The loaded pipeline and the loops of one role."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import torch

        from imagegen import GenerationRequest, generate
        from perf.contention._pipelines import load_for_benchmark

        torch.set_num_threads(1)
        self.spec = spec
        self.role: str = spec["role"]
        self.device: str = spec["device"]
        self.steps: int = int(spec["steps"])
        self.size: int | None = spec.get("size")
        self.guidance: float = float(spec["guidance"])
        self._generate = generate
        self._request = GenerationRequest
        self.loaded, self.load_seconds = load_for_benchmark(
            spec["pipeline"], self.device, Path(spec["models_dir"])
        )
        self.seed = 1000 if self.role == "runner" else 0
        self.step_seconds = self._warm_up()

    def _image(self, on_step: Any = None, on_block: Any = None) -> None:
        self.seed += 1
        request = self._request(
            prompt=PROMPT,
            width=self.size,
            height=self.size,
            steps=self.steps,
            guidance=self.guidance,
            seed=self.seed,
        )
        self._generate(self.loaded, request, on_step=on_step, on_block=on_block)
        if self.device.startswith("cuda"):
            import torch

            # Finish the image's kernels before its clock stops, as a caller that
            # encodes the image to PNG would.
            torch.cuda.synchronize(self.device)

    def _warm_up(self) -> float:
        self._image()
        started = time.monotonic()
        self._image()
        return (time.monotonic() - started) / self.steps

    def calibrate(self, images: int) -> dict[str, float]:
        """The fastest of ``images`` images alone, per image and per step."""
        best = float("inf")
        for _ in range(images):
            started = time.monotonic()
            self._image()
            best = min(best, time.monotonic() - started)
        self.step_seconds = best / self.steps
        return {"image_seconds": best, "step_seconds": self.step_seconds}

    # ----------------------------------------------------------- scenarios

    def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        from perf.contention._memory import peak_bytes, reset_peak
        from perf.contention._schemes import Scheme

        scheme = Scheme(cmd["scheme"], Path(cmd["path"]), cmd["flush"], cmd.get("max_wait"))
        start, end = float(cmd["start"]), float(cmd["end"])
        reset_peak(self.device)
        if self.role == "backend":
            result = self._backend(scheme, start, end, float(cmd["interval"]))
        else:
            result = self._runner(scheme, start, end)
        result["peak_bytes"] = peak_bytes(self.device)
        return result

    def _backend(self, scheme: Any, start: float, end: float, interval: float) -> dict[str, Any]:
        """Open-loop requests at ``start + k * interval``; latency counts from the arrival."""
        latency: list[float] = []
        wait: list[float] = []
        service: list[float] = []
        forced = 0
        arrival = start
        while arrival < end:
            delay = arrival - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            held = scheme.backend()
            with held:
                granted = time.monotonic()
                self._image()
                done = time.monotonic()
            latency.append(done - arrival)
            wait.append(float(held.wait_seconds))
            service.append(done - granted)
            forced += bool(held.forced)
            arrival += interval
        return {
            "latency": latency,
            "wait": wait,
            "service": service,
            "forced": forced,
            "window": end - start,
        }

    def _runner(self, scheme: Any, start: float, end: float) -> dict[str, Any]:
        """Images back to back from ``start``; the image still running at ``end`` is dropped."""
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        images = 0
        yields = 0
        wait: list[float] = []
        last_end = start
        while time.monotonic() < end:
            held = scheme.runner()
            step_yield = scheme.step_yield

            def on_step(
                step: int, total: int, held: Any = held, step_yield: bool = step_yield
            ) -> None:
                if step_yield:
                    held.checkpoint()
                if time.monotonic() >= end:
                    raise WindowOver

            def on_block(name: str, held: Any = held) -> None:
                held.checkpoint()
                if time.monotonic() >= end:
                    raise WindowOver

            try:
                with held:
                    self._image(on_step, on_block if scheme.block_yield else None)
            except WindowOver:
                break
            finally:
                yields += int(held.yields)
                wait.append(float(held.wait_seconds))
            now = time.monotonic()
            if now > end:
                break
            images += 1
            last_end = now
        return {
            "images": images,
            "span": last_end - start,
            "yields": yields,
            "wait": wait,
            "window": end - start,
        }

    # ----------------------------------------------------------- flush probe

    def flush_probe(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Per flush policy: images/s alone under the lease, release time, memory returned."""
        from perf.contention._probes import measure_flush_policies

        if not self.device.startswith("cuda"):
            return {"available": False, "reason": f"no CUDA (device {self.device})"}
        figures = measure_flush_policies(
            self._image, self.device, Path(cmd["path"]), int(cmd["images"])
        )
        return {"available": True, **figures}

    # ----------------------------------------------------------- checkpoint overhead

    def checkpoint_overhead(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Images with nobody waiting: step-only against step + block checkpoints."""
        from perf.contention._probes import measure_checkpoint_overhead

        figures = measure_checkpoint_overhead(
            self._image, self.device, Path(cmd["path"]), cmd["flush"], int(cmd["images"])
        )
        return {"step_seconds": self.step_seconds, **figures}


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return str(torch.cuda.get_device_name(device))
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return f"CPU ({line.partition(':')[2].strip()})"
    except OSError:
        pass
    return "CPU"


def _answer(channel: IO[str], payload: dict[str, Any]) -> None:
    channel.write(json.dumps(payload) + "\n")
    channel.flush()


def _die_with_parent() -> None:
    # A role left running after its parent died would skew whatever runs next on this
    # host; Linux kills it when the parent goes (prctl PR_SET_PDEATHSIG).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        sys.exit("perf.contention.role: the parent is already gone")


def main(argv: list[str]) -> int:
    _die_with_parent()
    if len(argv) != 1:
        print("usage: python -m perf.contention.role SPEC_JSON", file=sys.stderr)
        return 2
    spec = json.loads(argv[0])
    # The protocol owns the original stdout; anything printed by libraries goes to stderr.
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    role = Role(spec)
    import torch

    _answer(
        channel,
        {
            "ready": True,
            "role": role.role,
            "load_seconds": role.load_seconds,
            "step_seconds": role.step_seconds,
            "device": role.device,
            "torch": torch.__version__,
            "pid": os.getpid(),
            "device_name": _device_name(role.device),
        },
    )
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "quit":
                return 0
            if cmd["cmd"] == "pin":
                os.sched_setaffinity(0, set(cmd["cores"]))
                reply: dict[str, Any] = {"cores": sorted(os.sched_getaffinity(0))}
            elif cmd["cmd"] == "calibrate":
                reply = role.calibrate(int(cmd["images"]))
            elif cmd["cmd"] == "run":
                reply = role.run(cmd)
            elif cmd["cmd"] == "flush_probe":
                reply = role.flush_probe(cmd)
            elif cmd["cmd"] == "checkpoint_overhead":
                reply = role.checkpoint_overhead(cmd)
            else:
                reply = {"error": f"unknown command {cmd['cmd']!r}"}
        except Exception as exc:  # reported to the parent, which stops the run with it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _answer(channel, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
