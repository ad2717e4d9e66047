"""The `train` section: declared once, overridable with --set, errors that name the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recsmith.config import load_config, model_entry
from recsmith.errors import ConfigError
from recsmith.models import create_model
from recsmith.training.config import TrainConfig, resolve_train_config


def test_defaults_and_dotted_overrides():
    cfg = load_config(
        None,
        [
            "train.optimizer.lr=0.01",
            "train.scheduler.name=cosine",
            "train.amp=bf16",
            "train.optimizer.param_groups=[{params: 'item*', lr: 0.1}]",
        ],
    )
    assert cfg.train.optimizer.lr == 0.01 and cfg.train.scheduler.name == "cosine" and cfg.train.amp == "bf16"
    assert cfg.train.optimizer.param_groups[0].lr == 0.1
    assert load_config().train == TrainConfig()


def test_unknown_train_key_names_it_and_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["train.optimizer.lrr=0.1"])
    message = str(err.value)
    assert "train.optimizer.lrr" in message and "weight_decay" in message and "lr" in message


@pytest.mark.parametrize(
    "override, words",
    [
        ("train.optimizer={name: adam, nesterov: true}", "nesterov"),
        ("train.optimizer={name: sparse_adam, weight_decay: 0.1}", "sparse_adam"),
        ("train.amp=fp8", "train.amp"),
        ("train.early_stopping.monitor=ndcg10", "monitor"),
        ("train.sampler.name=hard", None),  # valid on its own
    ],
)
def test_invalid_combinations_are_config_errors(override, words):
    if words is None:
        load_config(None, [override])
        return
    with pytest.raises(ConfigError, match=words):
        load_config(None, [override])


def test_sampled_softmax_refuses_logq_with_hard_negatives():
    with pytest.raises(ConfigError, match="logq_correction"):
        load_config(None, ["train.loss.name=sampled_softmax", "train.sampler.name=hard"])
    load_config(
        None, ["train.loss.name=sampled_softmax", "train.sampler.name=hard", "train.loss.logq_correction=false"]
    )


def test_model_train_overrides_merge_over_the_run_section():
    cfg = load_config(
        None,
        [
            "train.epochs=7",
            "train.optimizer.lr=0.1",
            "train.optimizer.weight_decay=0.5",
            "models.mf.train={optimizer: {lr: 0.01}}",
        ],
    )
    entry = model_entry("mf", cfg.model_params("mf"))
    merged = resolve_train_config(create_model("mf", entry.params), cfg.train, entry.train)
    assert merged.epochs == 7 and merged.optimizer.lr == 0.01 and merged.optimizer.weight_decay == 0.5


def test_bad_model_train_override_names_the_model_key():
    with pytest.raises(ConfigError, match=r"unknown key 'models\.mf\.train\.optimizer\.lrr'"):
        load_config(None, ["models.mf.train={optimizer: {lrr: 1}}"])


def test_loading_a_config_does_not_import_torch():
    code = (
        "import sys; from recsmith.config import load_config; load_config(None, ['train.epochs=3']); "
        "import recsmith.cli.main; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_model_defaults_sit_between_the_trainer_defaults_and_the_run_section():
    # sasrec's own default loss is the full softmax, where TrainConfig's is bpr
    assert resolve_train_config(create_model("sasrec")).loss.name == "softmax"
    assert resolve_train_config(create_model("sasrec"), TrainConfig()).loss.name == "softmax"  # nothing set explicitly
    run = load_config(None, ["train.loss.name=sampled_softmax", "train.epochs=3"]).train
    merged = resolve_train_config(create_model("sasrec"), run, {"epochs": 7})
    assert merged.loss.name == "sampled_softmax"  # the run's explicit choice beats the model default
    assert merged.epochs == 7  # the model's own override beats the run
    assert merged.batch_size == 128  # the model default where nobody set anything
