"""Every device: slots from the run config, longest-first spreading, two CPU leases at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmark import ConfigError, load_config
from benchmark.devices import Slot, slots, spread
from gpu_coord import devices as lease_devices
from gpu_coord import lease, memory_budget, read_status
from tests.benchmark.conftest import (
    db_rows,
    model_table,
    runner_env,
    runner_process,
    wait_for,
    write_config,
)

MODEL = '[[models]]\nname = "m"\nrepo = "org/model"\n'


def _load(tmp_path: Path, run: str) -> Any:
    path = tmp_path / "b.toml"
    path.write_text(f"[run]\n{run}\n\n{MODEL}")
    return load_config(path)


def test_devices_and_lease_devices_parse(tmp_path: Path) -> None:
    run = _load(tmp_path, "devices = [0, 2]").run
    assert run.devices == (0, 2)
    assert run.lease_devices is None
    assert run.block_checkpoints
    assert _load(tmp_path, 'devices = "all"').run.devices == "all"
    cpu = _load(tmp_path, 'device = "cpu"\nlease_devices = [0, 1]\nblock_checkpoints = false').run
    assert cpu.lease_devices == (0, 1)
    boxed = _load(tmp_path, 'isolation = "container"\ncontainer_image = "img:1"').run
    assert (boxed.isolation, boxed.container_image) == ("container", "img:1")
    assert _load(tmp_path, "").run.isolation == "process"
    assert not cpu.block_checkpoints


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("devices = []", r"run.devices: expected \"all\" or a non-empty list"),
        ("devices = [0, 0]", r"run.devices: duplicate devices"),
        ("devices = [-1]", r"run.devices: expected"),
        ('devices = "some"', r"run.devices: expected"),
        ('device = "cpu"\ndevices = [0]', r'run.devices: names CUDA devices; device = "cpu"'),
        ("lease_devices = [0, 1]", r'run.lease_devices: is the CPU mode: it needs device = "cpu"'),
        ('device = "cpu"\nlease_devices = "all"', r"run.lease_devices: expected a non-empty"),
        ('isolation = "vm"', r"run.isolation: expected \"process\" or \"container\""),
        ('isolation = "container"\ncontainer_image = " "', r"run.container_image: must not be"),
    ],
)
def test_bad_device_settings_name_the_key(tmp_path: Path, run: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, run)


def test_a_bad_placement_names_the_model(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(MODEL + 'placement = "cpu"\n')
    with pytest.raises(ConfigError, match=r"models\[0\] \(m\).placement: 'cpu' is not one of"):
        load_config(path)


def test_slots() -> None:
    assert slots("auto", None, None) == [Slot("auto")]
    assert slots("cuda", (0, 2), None) == [Slot("cuda:0"), Slot("cuda:2")]
    assert slots("auto", "all", None, cuda_count=lambda: 2) == [Slot("cuda:0"), Slot("cuda:1")]
    cpu = slots("cpu", None, (0, 1))
    assert [s.label for s in cpu] == ["cpu lease 0", "cpu lease 1"]
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        slots("auto", "all", None, cuda_count=lambda: 0)


def test_spread_puts_the_longest_first_on_the_least_loaded_device() -> None:
    work = {"flux": 10.0, "sdxl": 6.0, "sd3": 5.0, "sd15": 4.0, "tiny": 1.0}
    queues = spread(list(work), work.__getitem__, 2)
    assert queues == [["flux", "sd15"], ["sdxl", "sd3", "tiny"]]  # loads 14 and 12
    assert spread(["a"], lambda _: 1.0, 3) == [["a"], [], []]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_cpu_leases_run_their_models_side_by_side(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """Each device has its own lease: holding lease 0 stalls only the model on device 0."""
    coord, results = bench_dirs["coord"], bench_dirs["results"]
    (bench_dirs["data"] / "p.txt").write_text("a cat\na dog\n")
    # "long" has more work, so it goes first, to lease 0; "short" to lease 1.
    models = [
        model_table("short", tiny_models.pipeline, steps=2),
        model_table("long", tiny_models.pipeline, steps=6),
    ]
    config = write_config(tmp_path / "b.toml", tiny_models, models, score=False)
    config.write_text(config.read_text().replace("[run]\n", "[run]\nlease_devices = [0, 1]\n"))
    log = tmp_path / "runner.log"

    def made(model: str) -> list[dict[str, Any]]:
        return [r for r in db_rows(results) if r["model"] == model]

    backend = lease("test-backend", priority="high", path=coord, device=0).acquire()
    try:
        with runner_process(["run", "--no-report"], runner_env(bench_dirs, config), log) as proc:
            wait_for(
                lambda: len(made("short")) == 2,
                timeout=300,
                what="device 1's model to finish while lease 0 is held",
                proc=proc,
                log=log,
            )
            # Lease 0 is ours: nothing of the model on device 0 was made meanwhile, yet
            # its worker loaded and registered as a resident of device 0.
            assert made("long") == []
            residents = wait_for(
                lambda: [r for r in memory_budget(0, path=coord).residents
                         if r.owner == "benchmark"],
                timeout=120, what="the device-0 worker's resident entry", proc=proc, log=log,
            )  # fmt: skip
            assert residents[0].resident_bytes == 0  # on the CPU it holds nothing on a GPU
            assert read_status(path=coord, device=0)["owner"] == "test-backend"
            backend.release()
            assert proc.wait(timeout=300) == 0, log.read_text()[-4000:]
    finally:
        if backend.held:
            backend.release()
    rows = db_rows(results)
    assert sorted((r["model"], r["status"]) for r in rows) == [
        ("long", "ok"), ("long", "ok"), ("short", "ok"), ("short", "ok"),
    ]  # fmt: skip
    assert {r["device"] for r in rows if r["model"] == "short"} == {"cpu lease 1"}
    assert {r["device"] for r in rows if r["model"] == "long"} == {"cpu lease 0"}
    assert {r["placement"] for r in rows} == {"gpu"}
    assert sorted(lease_devices(coord)) == [0, 1]
    assert "model long on cpu lease 0" in log.read_text()
