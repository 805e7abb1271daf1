"""Text-to-image pipelines shared by the backend and the benchmark runner.

Load a diffusers pipeline from a hub repo id or a local folder, generate with
hooks between denoising steps and between a step's blocks (where a GPU lease
checkpoints), and build the tiny offline models that the local run and the
tests use.
"""

from __future__ import annotations

from imagegen._blocks import BlockHook, pipeline_blocks
from imagegen._device import cuda_index, lease_device, pick_device, pick_dtype
from imagegen._generate import StepHook, generate
from imagegen._load import LoadedPipeline, ModelLoadError, load_pipeline
from imagegen._request import GenerationRequest
from imagegen._tiny import TinyModels, build_tiny_models, byte_level_clip_tokenizer

__all__ = [
    "BlockHook",
    "GenerationRequest",
    "LoadedPipeline",
    "ModelLoadError",
    "StepHook",
    "TinyModels",
    "build_tiny_models",
    "byte_level_clip_tokenizer",
    "cuda_index",
    "generate",
    "lease_device",
    "load_pipeline",
    "pick_device",
    "pick_dtype",
    "pipeline_blocks",
]
