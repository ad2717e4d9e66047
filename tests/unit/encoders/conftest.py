"""Fixtures for the encoder tests: tiny random vision models saved like real ones, and test images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# never reach for the hub from a test: the packaged MiniLM and tmp_path models are all we use
os.environ.setdefault("HF_HUB_OFFLINE", "1")

_TINY = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> Path:
    """A randomly initialised 32x32 ViT + ViTImageProcessor in a directory, loaded by path in tests."""
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vit")
    ViTModel(ViTConfig(**_TINY)).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    """A tiny CLIP vision tower with a 16-d projection + CLIPImageProcessor."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip")
    CLIPVisionModelWithProjection(CLIPVisionConfig(**_TINY, projection_dim=16)).save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def image_files(tmp_path_factory) -> dict[str, str]:
    """Three good PNGs (distinct noise), and a missing, a truncated and a text-as-.jpg file."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    files = {}
    for name in ("red", "green", "noise"):
        pixels = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
        files[name] = str(root / f"{name}.png")
        Image.fromarray(pixels).save(files[name])
    truncated = root / "truncated.png"
    data = Path(files["noise"]).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])  # noise does not compress: the cut falls inside IDAT
    files["truncated"] = str(truncated)
    fake = root / "page.jpg"
    fake.write_text("<html>404 not found</html>")
    files["fake"] = str(fake)
    files["missing"] = str(root / "missing.png")
    return files
