"""Early stopping on the dev metric (training.patience): training stops once that many
epochs in a row bring nothing better, the best epoch's weights are kept, and a run
that is started again after it stopped does not train on.

Bad input tried: a negative patience. Without a dev set every epoch is trained.
"""

import json
import re

import keras
import numpy as np
import pytest

from conftest import ROOT, write_tiny_checkpoint
from tfbert.recipe import RecipeError, load_recipe
from tfbert.training.callbacks import DevEvaluation

SENTIMENT = ROOT / "recipes" / "sentiment.toml"


def test_dev_evaluation_stops_after_patience_epochs(tmp_path):
    scores = iter([0.5, 0.6, 0.55, 0.6, 0.7, 0.9])  # epoch 2 best, 3 and 4 no better
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    weights_at_end_of = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights_at_end_of.append(model.get_weights()[0].copy()))
    callback = DevEvaluation(lambda: {"accuracy": next(scores)}, "accuracy",
                             tmp_path / "best.weights.h5", tmp_path / "dev.json", patience=2)
    x, y = np.random.default_rng(0).normal(size=(16, 2)), np.ones((16, 1))
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[record, callback])
    assert len(history.epoch) == 4
    state = json.loads((tmp_path / "dev.json").read_text())
    assert state == {"best": 0.6, "epoch": 4, "best_epoch": 2, "stopped_early": True}
    model.load_weights(tmp_path / "best.weights.h5")
    np.testing.assert_array_equal(model.get_weights()[0], weights_at_end_of[1])
    assert not np.array_equal(weights_at_end_of[1], weights_at_end_of[3])


def test_no_early_stop_on_the_last_epoch(tmp_path):
    """Patience running out on the last epoch is the end of training, not an early stop."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    scores = iter([0.6, 0.5, 0.5])
    callback = DevEvaluation(lambda: {"accuracy": next(scores)}, "accuracy", tmp_path / "w.weights.h5",
                             tmp_path / "dev.json", patience=2)
    model.fit(np.zeros((4, 1)), np.zeros((4, 1)), epochs=3, verbose=0, callbacks=[callback])
    assert json.loads((tmp_path / "dev.json").read_text())["stopped_early"] is False


def test_patience_zero_never_stops(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    callback = DevEvaluation(lambda: {"accuracy": 0.5}, "accuracy", tmp_path / "w.weights.h5",
                             tmp_path / "dev.json", patience=0)
    history = model.fit(np.zeros((4, 1)), np.zeros((4, 1)), epochs=5, verbose=0, callbacks=[callback])
    assert len(history.epoch) == 5


@pytest.mark.parametrize("overrides, message", [
    (["training.patience=-1"], "training.patience must be 0 (off) or more, got -1"),
])
def test_bad_patience(overrides, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(SENTIMENT, overrides)


def test_a_run_stops_early_and_is_not_trained_on_when_started_again(tmp_path, capsys, monkeypatch):
    from tfbert.run_directory import RunDirectory
    from tfbert import train as run_module

    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", sorted(set(re.findall(r"[a-z]+", text)))[:300])
    # A learning rate so small that no prediction changes: the dev accuracy of epoch 1
    # is never beaten, so patience 1 stops after epoch 2.
    recipe = load_recipe(SENTIMENT, [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}", "export.enabled=false",
        "training.epochs=6", "training.batch_size=16", "data.max_train_examples=32",
        "training.learning_rate=1e-9", "training.patience=1", "training.baseline=false"])

    def crash(*args, **kwargs):
        raise RuntimeError("killed after training")

    monkeypatch.setattr(RunDirectory, "save_task", crash)
    with pytest.raises(RuntimeError, match="killed after training"):
        run_module.train(recipe)
    printed = capsys.readouterr().out
    assert "stopping early: no better dev accuracy for 1 epoch(s) (training.patience); keeping epoch 1" in printed
    monkeypatch.undo()

    result = run_module.train(recipe)  # the same command again: resumes, trains no more
    assert "this run stopped early at epoch 2" in capsys.readouterr().out
    assert result["steps_run"] == 0 and result["stopped_early"] and result["best_epoch"] == 1
