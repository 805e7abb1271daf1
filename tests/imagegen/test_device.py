"""Devices: the dtype defaults, and which GPU lease a torch device holds."""

from __future__ import annotations

import pytest
import torch

from imagegen import cuda_index, lease_device, pick_dtype


def test_dtype_defaults():
    assert pick_dtype("cpu") == torch.float32
    assert pick_dtype("cuda") == torch.float16
    assert pick_dtype("cuda", "bf16") == torch.bfloat16


def test_lease_device_follows_the_torch_device():
    assert (lease_device("cpu"), lease_device("cuda"), lease_device("cuda:2")) == (0, 0, 2)
    assert (cuda_index("mps"), cuda_index("cuda"), cuda_index("cuda:3")) == (None, 0, 3)
    with pytest.raises(ValueError, match="cuda:x"):
        cuda_index("cuda:x")
