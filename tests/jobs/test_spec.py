"""JobSpec and Resources on their own: sizes, counts, paths (no service, no engine)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gpu_coord import parse_size
from jobs.spec import JobFile, JobSpec, Resources, safe_relative_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512MB", 512 * 10**6),
        ("1GB", 10**9),
        ("1.5GiB", int(1.5 * 2**30)),
        ("12 GB", 12 * 10**9),
        ("2048", 2048),
        (4096, 4096),
        ("64kib", 64 * 1024),
    ],
)
def test_sizes_are_gpu_coords(text: str | int, expected: int) -> None:
    assert parse_size(text, name="ram") == expected


@pytest.mark.parametrize("text", ["", "GB", "1.5.2GB", "12XB", "-1GB", "one gig"])
def test_bad_sizes_name_the_field(text: str) -> None:
    with pytest.raises(ValueError, match="ram"):
        parse_size(text, name="ram")


def test_resources_parse_counts_and_sizes() -> None:
    resources = Resources.model_validate(
        {"cpu": "2", "gpu": "1", "ram": "1GiB", "storage": "2GB", "gpu_memory": "1.5GiB"}
    )
    assert (resources.cpu, resources.gpu) == (2, 1)
    assert resources.ram == 2**30
    assert resources.storage == 2 * 10**9
    assert resources.gpu_memory == int(1.5 * 2**30)


def test_resources_defaults() -> None:
    resources = Resources()
    assert (resources.cpu, resources.gpu, resources.gpu_memory) == (1, 0, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("/abs", "absolute"),
        ("../up", "'..'"),
        ("a/../../b", "'..'"),
        ("a\x00", "NUL"),
        ("a\\b", "backslash"),
        (".", "names no file"),
        ("", "empty"),
    ],
)
def test_unsafe_paths(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        safe_relative_path(value, what="file path")


def test_paths_are_normalised() -> None:
    assert safe_relative_path("./a//b.txt", what="p") == "a/b.txt"
    assert JobFile(path="./x/y", content="").path == "x/y"


def test_base64_files_decode() -> None:
    item = JobFile(path="b.bin", content="AAEC", encoding="base64")
    assert item.data() == b"\x00\x01\x02"
    assert JobFile(path="t.txt", content="é").data() == "é".encode()


def test_spec_round_trips_through_json() -> None:
    spec = JobSpec.model_validate(
        {"image": "img:1", "command": ["python3", "-c", "pass"], "resources": {"ram": "1GB"}}
    )
    again = JobSpec.model_validate(spec.model_dump(mode="json"))
    assert again == spec
    assert again.resources.ram == 10**9


def test_script_and_command_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        JobSpec.model_validate({"image": "img", "script": "true", "command": ["true"]})
