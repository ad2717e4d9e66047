"""Frozen or fine-tunable Hugging Face image encoders, and batched image embedding with fallbacks.

Any vision model saved in the Hugging Face format works, by name or local path: CLIP (the vision tower
with its projection: :class:`~transformers.CLIPVisionModelWithProjection`), SigLIP's vision tower,
ViT, or any ``AutoModel`` that has an image processor. The pooled vector is the one the model offers:
``image_embeds`` (CLIP projection), else ``pooler_output`` (when its weights were loaded, not freshly
initialised), else the CLS token, else the spatial mean of a convolutional feature map.

A missing, unreadable or non-image file never crashes a run (see :mod:`recsmith.encoders.image_io`):
``fallback`` says what the item gets instead, a zero vector, the mean of the good rows, or
(``"error"``) one :class:`~recsmith.errors.RecsmithError` listing the first failures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from recsmith.encoders.cache import EmbeddingCache
from recsmith.encoders.image_io import ImageLoadError, LoadedImage, describe_failures, read_image
from recsmith.encoders.text import canonical_model_name, resolve_model_path
from recsmith.errors import ConfigError, RecsmithError
from recsmith.utils.progress import track

Fallback = Literal["error", "zeros", "mean"]
_FALLBACKS = ("error", "zeros", "mean")
# multi-modal checkpoints whose AutoModel also wants text: load only their vision tower
_VISION_TOWERS = {"clip": "CLIPVisionModelWithProjection", "siglip": "SiglipVisionModel"}
_FALLBACK_HINT = (
    "Fix or remove these paths, or pass fallback='zeros' (zero vector) or fallback='mean' (mean of the "
    "good images) to embed unreadable images anyway."
)


def _load_vision_model(path: str) -> tuple[nn.Module, bool]:
    """The vision model at ``path`` and whether its pooler was loaded from the checkpoint."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    name = _VISION_TOWERS.get(config.model_type)
    if config.model_type == "clip_vision_model":
        with_projection = any("WithProjection" in a for a in (config.architectures or []))
        name = "CLIPVisionModelWithProjection" if with_projection else "CLIPVisionModel"
    cls = getattr(transformers, name) if name else transformers.AutoModel
    model, info = cls.from_pretrained(path, output_loading_info=True)
    # e.g. DINO checkpoints loaded as ViTModel get a random pooler: its output would be noise
    pooler_loaded = not any("pooler" in key for key in info.get("missing_keys", ()))
    return model, pooler_loaded


class ImageEncoder(nn.Module):
    """An image processor + vision model giving one pooled vector per image.

    Args:
        model: a name or local path (see :func:`~recsmith.encoders.text.resolve_model_path`).
        freeze: True keeps every weight fixed and the backbone in eval mode even after ``.train()``.
        fallback: what :meth:`load_images` / :func:`encode_images` do with unusable images.
    """

    def __init__(self, model: str, *, freeze: bool = True, fallback: Fallback = "zeros") -> None:
        super().__init__()
        from transformers import AutoImageProcessor

        if fallback not in _FALLBACKS:
            raise ConfigError(f"fallback must be one of {_FALLBACKS}, got {fallback!r}")
        path = resolve_model_path(model)
        self.model_name = canonical_model_name(model)
        self.fallback = fallback
        self.frozen = freeze
        try:
            self.processor = AutoImageProcessor.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"model {model!r} has no image processor ({exc}); save one beside it, e.g. "
                "ViTImageProcessor(size=...).save_pretrained(path)"
            ) from exc
        self.backbone, self._use_pooler = _load_vision_model(path)
        if freeze:
            self.backbone.requires_grad_(False)
        self.eval()
        # one blank image tells the input shape (for failed slots) and the output width
        probe = self.pixels([_blank()])
        self._pixel_shape = tuple(probe.shape[1:])
        try:
            with torch.no_grad():
                self.dim: int = int(self(probe).shape[1])
        except Exception as exc:
            raise ConfigError(f"model {model!r} cannot embed images: {type(exc).__name__}: {exc}") from exc

    def train(self, mode: bool = True) -> "ImageEncoder":
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def pixels(self, images: list) -> torch.Tensor:
        """Processor output ``(n, 3, H, W)`` float for decoded PIL images."""
        return self.processor(images=images, return_tensors="pt")["pixel_values"]

    def load_images(
        self, paths: list, *, first_index: int = 0, download_dir: Path | None = None, timeout_s: float = 10.0
    ) -> tuple[torch.Tensor, torch.Tensor, list[ImageLoadError]]:
        """``(pixel_values (n, 3, H, W), ok_mask (n,) bool, errors)``; failed rows hold zeros.

        ``errors`` index items from ``first_index``. With ``fallback="error"`` any failure raises.
        """
        loaded = [
            read_image(p, first_index + i, download_dir=download_dir, timeout_s=timeout_s) for i, p in enumerate(paths)
        ]
        errors = [x for x in loaded if isinstance(x, ImageLoadError)]
        if errors and self.fallback == "error":
            raise RecsmithError(f"{describe_failures(errors, len(paths))}\n{_FALLBACK_HINT}")
        ok = torch.tensor([isinstance(x, LoadedImage) for x in loaded], dtype=torch.bool)
        pixel_values = torch.zeros((len(paths), *self._pixel_shape))
        if ok.any():
            pixel_values[ok] = self.pixels([x.image for x in loaded if isinstance(x, LoadedImage)])
        return pixel_values, ok, errors

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled image vectors ``(n, dim)`` for ``pixel_values`` ``(n, 3, H, W)``."""
        device = next(self.backbone.parameters()).device
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.backbone(pixel_values=pixel_values.to(device))
        embeds = getattr(out, "image_embeds", None)
        if embeds is not None:
            return embeds
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None and self._use_pooler:
            return pooled.flatten(1)  # conv nets pool to (n, c, 1, 1)
        hidden = out.last_hidden_state
        if hidden.dim() == 3:
            return hidden[:, 0]  # CLS token
        return hidden.mean(dim=tuple(range(2, hidden.dim())))  # (n, c, h, w) feature map

    def apply_fallback(self, vectors: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Fill the rows of failed images in place: zeros, or the mean of the good rows (zeros if none)."""
        ok = np.asarray(ok, dtype=bool)
        if self.fallback == "mean" and ok.any():
            vectors[~ok] = vectors[ok].mean(axis=0)
        else:
            vectors[~ok] = 0.0
        return vectors

    def param_groups(self, lr: float, weight_decay: float = 0.0) -> list[dict]:
        """Parameter groups giving the trainable encoder weights their own learning rate (empty when frozen)."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr, "weight_decay": weight_decay}] if params else []


def _blank():
    from PIL import Image

    return Image.new("RGB", (64, 64))


def encode_images(
    paths: list[str | None],
    model: "str | ImageEncoder",
    *,
    batch_size: int = 32,
    fallback: Fallback = "zeros",
    cache: EmbeddingCache | None = None,
    keys: list[str] | None = None,
    progress: bool = True,
    timeout_s: float = 10.0,
    download_dir: Path | None = None,
) -> tuple[np.ndarray, list[ImageLoadError]]:
    """Frozen embeddings ``(len(paths), dim)`` float32 of image files or http(s) URLs, and the failures.

    Unusable images are handled by ``fallback`` (the ``fallback`` of a given :class:`ImageEncoder`
    wins). With ``cache``, rows cached for (key, model, hash of the image bytes) are reused; ``keys``
    (e.g. external item ids) default to the byte hashes. Failed images are never cached.
    """
    if keys is not None and len(keys) != len(paths):
        raise ConfigError(f"encode_images got {len(paths)} paths but {len(keys)} keys; give one key per path")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    encoder = model if isinstance(model, ImageEncoder) else ImageEncoder(model, freeze=True, fallback=fallback)
    cache_id = f"image:{encoder.model_name}"
    out = np.zeros((len(paths), encoder.dim), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    errors: list[ImageLoadError] = []
    new_keys: list[str] = []
    new_hashes: list[str] = []
    new_rows: list[int] = []
    batches = range(0, len(paths), batch_size)
    was_training = encoder.training
    encoder.eval()
    try:
        for start in track(batches, "Encoding images") if progress else batches:
            loaded = [
                read_image(p, start + i, download_dir=download_dir, timeout_s=timeout_s)
                for i, p in enumerate(paths[start : start + batch_size])
            ]
            failed = [x for x in loaded if isinstance(x, ImageLoadError)]
            if failed and encoder.fallback == "error":
                raise RecsmithError(f"{describe_failures(failed, len(paths))}\n{_FALLBACK_HINT}")
            errors += failed
            good = [(start + i, x) for i, x in enumerate(loaded) if isinstance(x, LoadedImage)]
            rows = np.array([i for i, _ in good], dtype=np.int64)
            hashes = [x.hash for _, x in good]
            batch_keys = hashes if keys is None else [str(keys[i]) for i in rows]
            hit = np.zeros(len(good), dtype=bool)
            if cache is not None and good:
                cached, hit = cache.get(cache_id, batch_keys, hashes)
                if hit.any():
                    out[rows[hit]] = cached
            todo = np.flatnonzero(~hit)
            if len(todo):
                with torch.inference_mode():
                    vectors = encoder(encoder.pixels([good[j][1].image for j in todo]))
                out[rows[todo]] = vectors.float().cpu().numpy()
                new_rows += rows[todo].tolist()
                new_keys += [batch_keys[j] for j in todo]
                new_hashes += [hashes[j] for j in todo]
            ok[rows] = True
    finally:
        encoder.train(was_training)
        if cache is not None and new_rows:  # also after an interruption, so a rerun resumes
            cache.put(cache_id, new_keys, new_hashes, out[new_rows])
    return encoder.apply_fallback(out, ok), errors
