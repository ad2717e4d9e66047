"""Image encoders: tiny random ViT / CLIP models saved to disk load through the user's code path
(a local directory), bad image files never crash a run, and frozen weights stay bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsmith.encoders import ImageEncoder, ImageLoadError, encode_images
from recsmith.errors import ConfigError, RecsmithError

GOOD = ("red", "green", "noise")


def _paths(files: dict[str, str]) -> list[str | None]:
    # items 0, 2, 4 are good; 1 missing, 3 truncated, 5 a text file named .jpg, 6 no path at all
    return [files["red"], files["missing"], files["green"], files["truncated"], files["noise"], files["fake"], None]


@pytest.mark.parametrize(
    "fixture, backbone, dim",
    [
        ("tiny_vit", "ViTModel", 32),
        ("tiny_clip", "CLIPVisionModelWithProjection", 16),  # dim = the projection, not the hidden size
    ],
)
def test_models_load_from_a_local_directory(request, fixture, backbone, dim, image_files):
    enc = ImageEncoder(str(request.getfixturevalue(fixture)))
    assert type(enc.backbone).__name__ == backbone and enc.dim == dim
    pixels, ok, errors = enc.load_images([image_files["red"], image_files["missing"]], first_index=10)
    assert pixels.shape == (2, 3, 32, 32) and ok.tolist() == [True, False]
    assert errors == [ImageLoadError(11, image_files["missing"], "file not found")]
    assert torch.all(pixels[1] == 0)
    with torch.no_grad():
        assert enc(pixels).shape == (2, dim)


def test_bad_files_get_zero_vectors_and_are_reported(tiny_vit, image_files):
    vectors, errors = encode_images(_paths(image_files), str(tiny_vit), batch_size=3, progress=False)
    assert vectors.shape == (7, 32) and vectors.dtype == np.float32
    reasons = {e.index: e.reason for e in errors}
    assert sorted(reasons) == [1, 3, 5, 6]
    assert reasons[1] == "file not found"
    assert "truncated" in reasons[3]
    assert reasons[5].startswith("not an image")
    assert reasons[6] == "no image path given"
    assert errors[0].path == image_files["missing"]
    assert np.all(vectors[[1, 3, 5, 6]] == 0)
    good = vectors[[0, 2, 4]]
    assert np.all(np.abs(good).sum(axis=1) > 0)
    assert not np.allclose(good[0], good[1])  # different images, different vectors


def test_batching_does_not_change_vectors(tiny_clip, image_files):
    one, _ = encode_images(_paths(image_files), str(tiny_clip), batch_size=1, progress=False)
    many, _ = encode_images(_paths(image_files), str(tiny_clip), batch_size=64, progress=False)
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_mean_fallback_fills_bad_rows_with_the_mean_of_good_ones(tiny_vit, image_files):
    vectors, errors = encode_images(_paths(image_files), str(tiny_vit), fallback="mean", progress=False)
    assert len(errors) == 4
    mean = vectors[[0, 2, 4]].mean(axis=0)
    for row in (1, 3, 5, 6):
        np.testing.assert_allclose(vectors[row], mean, rtol=1e-6)


def test_error_fallback_names_the_item_and_path(tiny_vit, image_files):
    with pytest.raises(RecsmithError) as info:
        encode_images(_paths(image_files), str(tiny_vit), fallback="error", batch_size=2, progress=False)
    message = str(info.value)
    assert f"item 1 ({image_files['missing']!r}): file not found" in message
    assert "fallback='zeros'" in message  # says what to do
    enc = ImageEncoder(str(tiny_vit), fallback="error")
    with pytest.raises(RecsmithError, match="item 5 .*page.jpg.*not an image"):
        enc.load_images(_paths(image_files))


def test_unreachable_url_is_an_error_entry_not_a_crash(tiny_vit, image_files, tmp_path):
    url = "http://127.0.0.1:9/item.jpg"  # nothing listens on the discard port: refused at once
    vectors, errors = encode_images(
        [url, image_files["red"]], str(tiny_vit), timeout_s=2, download_dir=tmp_path / "downloads", progress=False
    )
    assert [(e.index, e.path) for e in errors] == [(0, url)]
    assert errors[0].reason.startswith("download failed")
    assert np.all(vectors[0] == 0) and np.any(vectors[1] != 0)
    assert not any((tmp_path / "downloads").glob("*"))  # nothing half-downloaded is kept


def test_a_checkpoint_without_pooler_weights_uses_the_cls_token(tmp_path, image_files):
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    # DINO-style checkpoint: no pooler saved, so AutoModel would add a random one
    model = ViTModel(
        ViTConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        ),
        add_pooling_layer=False,
    )
    model.save_pretrained(tmp_path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    enc = ImageEncoder(str(tmp_path))
    pixels, _, _ = enc.load_images([image_files["red"]])
    with torch.no_grad():
        cls = enc.backbone(pixel_values=pixels).last_hidden_state[:, 0]
        torch.testing.assert_close(enc(pixels), cls)


def test_bad_settings_are_config_errors(tiny_vit, tmp_path):
    with pytest.raises(ConfigError, match="fallback must be one of"):
        ImageEncoder(str(tiny_vit), fallback="skip")
    with pytest.raises(ConfigError, match="has no image processor"):
        ImageEncoder("all-MiniLM-L6-v2")  # a text model
    with pytest.raises(ConfigError, match="2 paths but 1 keys"):
        encode_images(["a", "b"], str(tiny_vit), keys=["k"], progress=False)


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_image_weights_stay_bit_identical_and_fine_tuned_ones_move(tiny_clip, image_files, freeze):
    torch.manual_seed(0)
    enc = ImageEncoder(str(tiny_clip), freeze=freeze)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    pixels, _, _ = enc.load_images([image_files[n] for n in GOOD])
    head = torch.nn.Linear(enc.dim, 1)
    opt = torch.optim.AdamW([{"params": head.parameters(), "lr": 1e-2}, *enc.param_groups(1e-2)])
    enc.train()
    assert enc.backbone.training is not freeze
    for _ in range(3):
        loss = torch.nn.functional.mse_loss(head(enc(pixels)), torch.tensor([[0.0], [1.0], [2.0]]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    changed = [k for k, v in enc.state_dict().items() if not torch.equal(v, before[k])]
    if freeze:
        assert changed == [] and enc.param_groups(1.0) == []
    else:
        assert any("visual_projection" in k for k in changed) and any("encoder.layers.0" in k for k in changed)
