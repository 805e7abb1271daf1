"""Resource checks: never fits (422 naming both figures), fits later (waits with the reason)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from jobs.errors import NeverFits
from jobs.resources import Given, Gpu, Host, human, measure_host, place, refuse_never_fits
from jobs.spec import Resources

GIB = 2**30
HOST = Host(
    cpus=4,
    ram_total_bytes=16 * GIB,
    ram_available_bytes=12 * GIB,
    disk_total_bytes=100 * GIB,
    disk_free_bytes=50 * GIB,
    gpus=(Gpu(0, 24 * GIB, 20 * GIB), Gpu(1, 24 * GIB, 4 * GIB)),
)


def test_measure_host_reads_psutil(tmp_path: Path) -> None:
    host = measure_host(tmp_path)
    assert host.cpus >= 1
    assert host.ram_total_bytes == psutil.virtual_memory().total
    assert 0 < host.disk_free_bytes <= host.disk_total_bytes


@pytest.mark.parametrize(
    ("resources", "param", "words"),
    [
        (Resources(cpu=5), "resources.cpu", ("5 CPUs requested", "this host has 4")),
        (Resources(ram=17 * GIB), "resources.ram", ("17.0 GiB requested", "16.0 GiB")),
        (Resources(storage=101 * GIB), "resources.storage", ("101.0 GiB", "100.0 GiB")),
        (
            Resources(gpu=1, gpu_memory=25 * GIB),
            "resources.gpu_memory",
            ("25.0 GiB requested", "24.0 GiB"),
        ),
    ],
)
def test_never_fits(resources: Resources, param: str, words: tuple[str, ...]) -> None:
    with pytest.raises(NeverFits) as caught:
        refuse_never_fits(resources, HOST)
    assert caught.value.param == param
    for word in words:
        assert word in caught.value.message


def test_no_gpu_host_refuses_gpu_jobs() -> None:
    no_gpu = Host(4, 16 * GIB, 12 * GIB, 100 * GIB, 50 * GIB, ())
    with pytest.raises(NeverFits, match="1 GPU requested, this host has 0"):
        refuse_never_fits(Resources(gpu=1), no_gpu)


def test_what_running_jobs_were_given_is_subtracted() -> None:
    given = Given()
    given.add(Resources(cpu=3, ram=2 * GIB), None)
    waiting = place(Resources(cpu=2), HOST, given)
    assert not waiting.ok
    assert waiting.reason == "waiting for CPUs: 2 requested, 1 of 4 free (3 given to running jobs)"
    assert place(Resources(cpu=1), HOST, given).ok
    given.add(Resources(cpu=0, ram=13 * GIB), None)
    ram = place(Resources(cpu=1, ram=2 * GIB), HOST, given)
    assert ram.reason is not None
    assert ram.reason.startswith("waiting for RAM: 2.0 GiB requested, 1.0 GiB free")


def test_gpu_placement_by_device_and_budget() -> None:
    given = Given()
    first = place(Resources(gpu=1, gpu_memory=8 * GIB), HOST, given)
    assert (first.ok, first.device) == (True, 0)
    given.add(Resources(gpu=1), 0)
    # Device 0 is taken; device 1 has only 4 GiB by the budget.
    second = place(Resources(gpu=1, gpu_memory=8 * GIB), HOST, given)
    assert not second.ok
    assert second.reason is not None
    assert "GPU 0 runs another job" in second.reason
    assert "GPU 1: 8.0 GiB requested, 4.0 GiB available" in second.reason
    assert place(Resources(gpu=1, gpu_memory=2 * GIB), HOST, given).device == 1


def test_the_check_is_kept_for_the_record() -> None:
    placement = place(Resources(), HOST, Given())
    assert placement.check["fits_now"] is True
    assert placement.check["host"]["cpus"] == 4
    assert placement.check["left"]["cpus"] == 4


def test_human() -> None:
    assert human(512) == "512 B"
    assert human(1536 * 2**20) == "1.5 GiB"
