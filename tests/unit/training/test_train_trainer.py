"""The Trainer: early stopping, resume = uninterrupted, mixed precision, accumulation, tracking, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from train_fixtures import train_params

from fitting import torch_model
from recsmith.errors import ConfigError
from recsmith.evaluation import evaluate
from recsmith.models import Recommender
from recsmith.training import checkpoint
from recsmith.training.config import TrainConfig
from recsmith.training.tracking import Tracker
from recsmith.training.trainer import Trainer


def make(**train) -> tuple[Recommender, TrainConfig]:
    """An unfitted MF model and its train config: the run's defaults under ``train_params(**train)``."""
    return torch_model("mf", {"dim": 8, "train": train_params(**train)})


def weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.network.state_dict().items()}


def assert_same_weights(a, b) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


# ---------------------------------------------------------------------- early stopping
def test_early_stopping_restores_the_best_epoch(parts):
    # a high learning rate peaks early on this small data set, then overfits
    model, model_cfg = make(epochs=15, optimizer={"lr": 0.05}, early_stopping={"patience": 2})
    result = Trainer(model_cfg).fit(model, parts.train, parts.valid)
    values = [h["valid/ndcg@10"] for h in result.history]
    assert result.stopped_early and result.epochs_run < 15
    assert result.best_epoch == int(np.argmax(values)) + 1 < result.epochs_run
    assert result.epochs_run - result.best_epoch == 2  # patience
    again = evaluate(model, parts.valid, [10])["ndcg@10"]
    assert again == pytest.approx(result.best_value) and result.best_value == max(values)
    assert result.best["epoch"] == result.best_epoch


def test_min_delta_and_mode_min():
    from recsmith.training.config import EarlyStoppingConfig
    from recsmith.training.early_stopping import EarlyStopping

    stop = EarlyStopping(EarlyStoppingConfig(mode="min", patience=2, min_delta=0.1))
    assert stop.update(1.0, 1) and not stop.update(0.95, 2) and stop.update(0.8, 3)
    assert not stop.update(float("nan"), 4) and not stop.should_stop
    assert not stop.update(0.79, 5) and stop.should_stop and stop.best_epoch == 3


def test_without_validation_every_epoch_runs(parts):
    model, model_cfg = make(epochs=3, scheduler={"name": "reduce_on_plateau"})
    result = Trainer(model_cfg).fit(model, parts.train)
    assert result.epochs_run == 3 and result.best_epoch is None and not result.stopped_early
    assert not any(k.startswith("valid/") for k in result.history[-1])


# ---------------------------------------------------------------------- resume
class Killed(Exception):
    pass


def kill_after(epoch: int):
    """A Tracker whose log() dies when it is handed ``epoch``: that epoch trained, its checkpoint not written."""

    class Dying(Tracker):
        def log(self, metrics, step):
            if metrics["epoch"] == epoch:
                raise Killed
            super().log(metrics, step)

    return Dying


RESUME_CASES = {
    "adam+cosine+bpr+accumulation": {"scheduler": {"name": "cosine", "warmup_fraction": 0.1}, "accumulation_steps": 2},
    "sgd+onecycle+hard-negatives+bf16": {
        "optimizer": {"name": "sgd", "lr": 5.0, "momentum": 0.9},
        "scheduler": {"name": "onecycle"},
        "amp": "bf16",
        "loss": {"name": "bce"},
        "sampler": {"name": "hard", "n_negatives": 4, "refresh_every": 7, "hard_pool": 10},
    },
}


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_resumed_run_ends_like_the_uninterrupted_one(parts, tmp_path, monkeypatch, case):
    train = dict(epochs=5, early_stopping={"patience": 10}, **RESUME_CASES[case])
    straight, straight_cfg = make(**train)
    Trainer(straight_cfg, tmp_path / "straight").fit(straight, parts.train, parts.valid)

    run = tmp_path / "killed"
    first, first_cfg = make(**train)
    monkeypatch.setattr("recsmith.training.trainer.Tracker", kill_after(3))
    with pytest.raises(Killed):
        Trainer(first_cfg, run).fit(first, parts.train, parts.valid)
    monkeypatch.undo()
    assert checkpoint.load(run / "checkpoints" / "last.pt")["epoch"] == 2

    resumed, resumed_cfg = make(**train)
    result = Trainer(resumed_cfg, run, resume=True).fit(resumed, parts.train, parts.valid)
    assert_same_weights(straight, resumed)
    expected = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    drop = ("seconds", "examples_per_second")
    assert [{k: v for k, v in h.items() if k not in drop} for h in logged] == [
        {k: v for k, v in h.items() if k not in drop} for h in expected
    ]
    assert result.epochs_run == 5
    test_a = evaluate(straight, parts.test, [10, 20])
    test_b = evaluate(resumed, parts.test, [10, 20])
    assert test_a == test_b


def test_resume_refuses_a_changed_config_and_starts_fresh_without_checkpoint(parts, tmp_path):
    model, model_cfg = make(epochs=1)
    Trainer(model_cfg, tmp_path / "run").fit(model, parts.train, parts.valid)
    changed, changed_cfg = make(epochs=1, optimizer={"lr": 0.5})
    with pytest.raises(ConfigError, match=r"train\.optimizer\.lr \(0\.02 -> 0\.5\)"):
        Trainer(changed_cfg, tmp_path / "run", resume=True).fit(changed, parts.train, parts.valid)
    fresh, fresh_cfg = make(epochs=1)
    result = Trainer(fresh_cfg, tmp_path / "none", resume=True).fit(fresh, parts.train, parts.valid)
    assert result.epochs_run == 1


def test_checkpoint_holds_every_state_and_loads_without_pickle(parts, tmp_path):
    model, model_cfg = make(epochs=2, sampler={"name": "hard", "hard_pool": 5})
    Trainer(model_cfg, tmp_path).fit(model, parts.train, parts.valid)
    state = checkpoint.load(tmp_path / "checkpoints" / "last.pt")
    assert {"model", "optimizer", "schedule", "scaler", "rng", "sampler", "early_stopping", "history"} <= set(state)
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert state["sampler"]["pool"].shape == (parts.train.n_users, 5)
    best_files = list((tmp_path / "checkpoints").glob("best-*.pt"))
    assert len(best_files) == 1  # only the best epoch's weights are kept
    best = checkpoint.load(best_files[0])
    assert best_files[0].name == f"best-{best['epoch']}.pt" and best["epoch"] == state["early_stopping"]["best_epoch"]
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="not a readable recsmith checkpoint"):
        checkpoint.load(tmp_path / "bad.pt")


# ---------------------------------------------------------------------- precision, accumulation, determinism
def test_bf16_autocast_on_cpu(parts):
    model, model_cfg = make(epochs=3, amp="bf16")
    seen = []
    build = model.build_network

    def build_with_hook(**kw):  # records the autocast state of every training forward pass
        net = build(**kw)
        net.register_forward_pre_hook(
            lambda m, i: (
                seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))) if m.training else None
            )
        )
        return net

    model.build_network = build_with_hook
    result = Trainer(model_cfg).fit(model, parts.train, parts.valid)
    assert seen and set(seen) == {(True, torch.bfloat16)}  # training runs under bf16 autocast ...
    assert all(p.dtype == torch.float32 for p in model.network.parameters())  # ... weights stay fp32
    assert result.history[-1]["valid/ndcg@10"] > 0.3
    assert model._score(np.arange(3)).dtype == np.float32  # scoring runs without autocast


def test_fp16_needs_cuda(parts):
    if torch.cuda.is_available():
        model, model_cfg = make(epochs=2, amp="fp16", device="cuda", grad_clip=1.0)
        result = Trainer(model_cfg).fit(model, parts.train, parts.valid)
        assert result.history[-1]["valid/ndcg@10"] > 0.2
    else:
        with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
            model, cfg = make(epochs=1, amp="fp16")
            Trainer(cfg).fit(model, parts.train)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast + GradScaler runs on CUDA only; no GPU here")
def test_fp16_grad_scaler_on_cuda(parts):
    model, model_cfg = make(epochs=2, amp="fp16", device="cuda", grad_clip=1.0)
    trainer = Trainer(model_cfg)
    trainer.fit(model, parts.train, parts.valid)
    assert next(model.network.parameters()).is_cuda


def test_gradient_accumulation_equals_the_big_batch(parts):
    # softmax has no sampler: the only difference is how the 2 x 64 examples are summed
    common = {
        "epochs": 2,
        "loss": {"name": "softmax"},
        "optimizer": {"name": "sgd", "lr": 1.0},
        "early_stopping": {"enabled": False},
    }
    n = len(parts.train) // 128 * 128  # whole big batches: no partial accumulation group
    from recsmith.data.interactions import Interactions

    train = Interactions(parts.train.frame[:n], parts.train.n_users, parts.train.n_items)
    big, big_cfg = make(batch_size=128, **common)
    small, small_cfg = make(batch_size=64, accumulation_steps=2, **common)
    Trainer(big_cfg).fit(big, train)
    result = Trainer(small_cfg).fit(small, train)
    assert result.history[-1]["step"] == 2 * n // 128
    for k, v in weights(big).items():
        np.testing.assert_allclose(weights(small)[k], v, rtol=1e-4, atol=1e-6)


def test_deterministic_mode_repeats_exactly_and_is_restored(parts):
    (a, a_cfg), (b, b_cfg) = make(epochs=2, deterministic=True), make(epochs=2, deterministic=True)
    Trainer(a_cfg).fit(a, parts.train)
    Trainer(b_cfg).fit(b, parts.train)
    assert_same_weights(a, b)
    assert not torch.are_deterministic_algorithms_enabled()


def test_compile_is_opt_in_and_trains(parts):
    model, model_cfg = make(epochs=1, compile=True, compile_backend="eager")
    result = Trainer(model_cfg).fit(model, parts.train, parts.valid)
    assert np.isfinite(result.history[0]["loss"])
    assert not any(k.startswith("_orig_mod") for k in model.network.state_dict())  # plain weights saved


def test_unknown_monitor_metric_is_a_config_error(parts):
    with pytest.raises(ConfigError, match="unknown metric 'ndgc'"):
        model, cfg = make(epochs=1, early_stopping={"monitor": "ndgc@10"})
        Trainer(cfg).fit(model, parts.train)


# ---------------------------------------------------------------------- tracking and saving
def test_metrics_jsonl_and_mlflow_sqlite_store(parts, tmp_path, seed_mlflow_db):
    seed_mlflow_db(tmp_path / "mlflow.db")  # the default store: sqlite:///RUN/mlflow.db
    model, model_cfg = make(epochs=2, tracking={"mlflow": True, "experiment": "unit"})
    Trainer(model_cfg, tmp_path, params={"data": {"name": "planted"}}).fit(model, parts.train, parts.valid)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in lines] == [1, 2]
    for h in lines:
        assert {
            "loss",
            "lr",
            "valid/ndcg@10",
            "examples_per_second",
            "sampler/neg_popularity",
            "sampler/accidental_positive_rate",
        } <= set(h)
    from mlflow.tracking import MlflowClient

    run_id = json.loads((tmp_path / "tracking.json").read_text())["mlflow_run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.data.params["train.optimizer.lr"] == "0.02" and run.data.params["data.name"] == "planted"
    assert "valid/ndcg_at_10" in run.data.metrics and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run_id, "lr")] == [1, 2]
    assert "metrics.jsonl" in [a.path for a in client.list_artifacts(run_id)]
    assert (tmp_path / "mlartifacts").is_dir() and not (tmp_path / "mlruns").exists()


def test_on_epoch_end_callbacks_see_each_epoch_and_can_stop_training(parts):
    seen: list[tuple[int, float]] = []
    model, model_cfg = make(epochs=3)
    Trainer(model_cfg, on_epoch_end=[lambda epoch, m: seen.append((epoch, m["valid/ndcg@10"]))]).fit(
        model, parts.train, parts.valid
    )
    assert [e for e, _ in seen] == [1, 2, 3] and all(0 <= v <= 1 for _, v in seen)

    class Stop(Exception):
        pass

    def stop_after_two(epoch: int, metrics: dict) -> None:
        if epoch == 2:
            raise Stop

    model, model_cfg = make(epochs=5)
    with pytest.raises(Stop):
        Trainer(model_cfg, on_epoch_end=[stop_after_two]).fit(model, parts.train, parts.valid)
    assert len(model.history or []) <= 2 and not model.is_fitted  # a stopped fit leaves the model unfitted


def test_trained_model_saves_and_loads_without_pickle(parts, tmp_path):
    model, model_cfg = make(epochs=2)
    Trainer(model_cfg).fit(model, parts.train)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    users = np.arange(20)
    np.testing.assert_array_equal(model.recommend(users, k=5)[0], loaded.recommend(users, k=5)[0])
    assert model.history and len(model.history) == 2


def test_progress_bar_shows_loss_and_throughput(parts, monkeypatch):
    from recsmith.training.progress import EpochProgress

    monkeypatch.setenv("RECSMITH_PROGRESS", "1")
    shown = []
    original = EpochProgress.update

    def spy(self, batches, examples, loss=None):
        original(self, batches, examples, loss)
        shown.append(dict(self._bar.tasks[0].fields))

    monkeypatch.setattr(EpochProgress, "update", spy)
    model, cfg = make(epochs=1, batch_size=32)
    Trainer(cfg).fit(model, parts.train)
    assert shown and shown[-1]["loss"] != "-" and shown[-1]["speed"].endswith("ex/s")
