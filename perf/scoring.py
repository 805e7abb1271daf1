"""``python -m perf.scoring``: what scoring one image costs, per scorer of the panel.

The real weights are on the hub, which is out of reach here, so the models are
built from configs with the real architectures and random weights (``--size
full``: OpenAI CLIP ViT-L/14 for CLIP and the aesthetic head, open_clip ViT-H-14
for PickScore and HPS v2.1); compute per image does not depend on the weights'
values. They are saved, then loaded and run through ``benchmark.scoring``'s own
loaders and scorers (HPS through its open_clip checkpoint conversion), in
float32 as the runner scores. ``--size tiny`` runs the tiny test models (a smoke
test). Prints a Markdown table and appends it, with the command line, date and
machine, to ``docs/performance.md`` (or ``--output``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from perf.perfdoc import DEFAULT_OUTPUT, append_section, machine_line

_VIT_L = {"vision": (1024, 24, 16, 4096), "text": (768, 12, 12, 3072), "dim": 768,
          "act": "quick_gelu"}  # fmt: skip
_VIT_H = {"vision": (1280, 32, 16, 5120), "text": (1024, 24, 16, 4096), "dim": 1024,
          "act": "gelu"}  # fmt: skip


def _config(shape: dict[str, Any], vocab_size: int) -> Any:
    from transformers import CLIPConfig

    (vw, vl, vh, vm), (tw, tl, th, tm) = shape["vision"], shape["text"]
    text = {"vocab_size": vocab_size, "hidden_size": tw, "num_hidden_layers": tl,
            "num_attention_heads": th, "intermediate_size": tm, "hidden_act": shape["act"],
            "max_position_embeddings": 77, "bos_token_id": 0, "eos_token_id": 1,
            "pad_token_id": 1}  # fmt: skip
    vision = {"hidden_size": vw, "num_hidden_layers": vl, "num_attention_heads": vh,
              "intermediate_size": vm, "image_size": 224, "patch_size": 14,
              "hidden_act": shape["act"]}  # fmt: skip
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=shape["dim"])


def build_full_size(root: Path) -> dict[str, str]:
    """Full-size stand-ins under ``root``; returns ``ScorerConfig`` fields pointing at them."""
    from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor

    from benchmark.scoring import AestheticPredictor
    from imagegen import byte_level_clip_tokenizer
    from imagegen._tiny_preference import build_hps, build_pickscore

    tokenizer = byte_level_clip_tokenizer()
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224),
        tokenizer=tokenizer,
    )
    vit_l, vit_h = _config(_VIT_L, len(tokenizer)), _config(_VIT_H, len(tokenizer))
    CLIPModel(vit_l).save_pretrained(root / "clip")
    processor.save_pretrained(root / "clip")
    (root / "aesthetic").mkdir()
    torch.save(AestheticPredictor(768).state_dict(), root / "aesthetic" / "head.pth")
    vit_h.save_pretrained(root / "vit-h")
    processor.save_pretrained(root / "vit-h")
    build_pickscore(root / "pickscore", vit_h)
    build_hps(root / "hps", vit_h)
    return {"clip_model": str(root / "clip"), "aesthetic_head": str(root / "aesthetic"),
            "aesthetic_file": "head.pth", "pickscore_model": str(root / "pickscore"),
            "pickscore_processor": str(root / "vit-h"), "hps_checkpoint": str(root / "hps"),
            "hps_architecture": str(root / "vit-h")}  # fmt: skip


def build_tiny(root: Path) -> dict[str, str]:
    """The tiny test models; returns ``ScorerConfig`` fields pointing at them."""
    from imagegen import build_tiny_models

    t = build_tiny_models(root)
    return {"clip_model": str(t.clip), "aesthetic_head": str(t.aesthetic),
            "pickscore_model": str(t.pickscore), "pickscore_processor": str(t.vit_h),
            "hps_checkpoint": str(t.hps), "hps_architecture": str(t.vit_h)}  # fmt: skip


def measure(
    fields: dict[str, str], *, images: int, batch: int, device: str
) -> list[dict[str, Any]]:
    """Per scorer: load seconds, and the median over batches of seconds per image.

    A warm-up batch of the full size goes first (oneDNN builds its kernels per
    shape on the first call); the median keeps a neighbour's burst on a shared
    machine out of the figure.
    """
    from benchmark.scoring import ScorerConfig, load_scorers

    rng = np.random.default_rng(0)
    pictures = [Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))
                for _ in range(images)]  # fmt: skip
    prompts = [f"a photo of {i} red foxes in the snow, highly detailed" for i in range(images)]
    results = []
    for name in ("clip", "aesthetic", "pickscore", "hps"):
        started = time.perf_counter()
        panel = load_scorers(ScorerConfig(enabled=(name,), **fields), device=device)
        load_s = time.perf_counter() - started
        scorer = panel.scorers[0]
        scorer.score(pictures[:batch], prompts[:batch])  # warm-up, the measured shape
        times = []
        for start in range(0, images, batch):
            panel.shared._last = None  # no embedding carried over: each scorer alone
            began = time.perf_counter()
            chunk = pictures[start : start + batch]
            scorer.score(chunk, prompts[start : start + batch])
            times.append((time.perf_counter() - began) / len(chunk))
        per_image = float(np.median(times))
        results.append({"scorer": name, "load_s": load_s, "per_image_s": per_image})
        print(f"{name:<10} load {load_s:6.1f} s   {per_image:7.3f} s/image", flush=True)
        panel.close()
        del panel, scorer
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.scoring", description=__doc__)
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--images", type=int, default=12, help="images scored per scorer")
    parser.add_argument("--batch", type=int, default=4, help="images per score() call")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="perf-scoring-") as folder:
        print(f"building {args.size} models in {folder} ...", flush=True)
        started = time.perf_counter()
        build = build_full_size if args.size == "full" else build_tiny
        fields = build(Path(folder))
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        results = measure(fields, images=args.images, batch=args.batch, device=args.device)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    arch = {"clip": "ViT-L/14", "aesthetic": "ViT-L/14 + MLP", "pickscore": "ViT-H-14",
            "hps": "ViT-H-14 (open_clip)"}  # fmt: skip
    if args.size == "tiny":
        arch = dict.fromkeys(arch, "tiny")
    lines = [
        f"## Scoring cost per image, {args.size} models on {args.device} ({when})",
        "",
        f"`python -m perf.scoring {' '.join(argv if argv is not None else sys.argv[1:])}`"
        f" on {machine_line()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.images} random 512x512 images in batches of {args.batch}, float32, the "
        "median over batches after a warm-up batch. Each "
        "scorer alone (its own image embedding); in the panel the aesthetic head reuses "
        "CLIP's, so its extra cost there is the MLP alone.",
        "",
        "| scorer | model | load, s | s per image |",
        "|---|---|--:|--:|",
    ]
    for r in results:
        lines.append(f"| {r['scorer']} | {arch[r['scorer']]} | {r['load_s']:.1f} | "
                     f"{r['per_image_s']:.3f} |")  # fmt: skip
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_doc:
        append_section(section, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
