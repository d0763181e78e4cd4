"""The sentiment recipe end to end on its sample, with the real MiniLM checkpoint,
then `tfbert evaluate` and `tfbert predict` on the run it leaves."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from tfbert import cli
from tfbert.recipe import load_recipe
from tfbert.train import train


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sentiment")
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [
        f"output_dir={out / 'run'}", f"export.dir={out / 'saved_models'}",
        "data.max_train_examples=96", "training.epochs=2", "training.batch_size=16",
        "classification.head=mean",  # MiniLM was trained with mean pooling: it learns fast
    ])
    return train(recipe), out


def test_recipe_trains_evaluates_and_exports(sentiment_run):
    result, out = sentiment_run
    run = out / "run"
    for name in ("recipe.json", "task.json", "model.keras", "dev_state.json", "finished.json",
                 "baseline/metrics.json"):
        assert (run / name).exists(), name
    assert not (run / "best.weights.h5").exists() and not (run / "resume").exists()
    assert result["baseline"]["dev"]["accuracy"] > 0.5
    metrics = json.loads((run / "eval_dev" / "metrics.json").read_text())
    # 96 sentences and two epochs of the real MiniLM already do much better than chance
    # (the sample's dev set is balanced: 50 positive, 50 negative).
    assert metrics["examples"] == 100 and metrics["accuracy"] >= 0.7, metrics["accuracy"]
    assert metrics["accuracy"] == result["dev"]["accuracy"]
    assert result["steps"] == result["steps_run"] == 12  # 96 examples, batch 16, 2 epochs
    assert (run / "eval_dev" / "confusion_matrix.png").stat().st_size > 1000
    lines = (run / "eval_dev" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 100 and json.loads(lines[0])["line"] == 2  # line 1 is the header
    rows = [json.loads(line) for line in lines]
    assert sum(row["correct"] for row in rows) == round(100 * metrics["accuracy"])
    assert all(row["correct"] == (row["label"] == row["predicted"]) for row in rows)
    assert list((run / "logs").rglob("events.out.tfevents.*"))  # TensorBoard
    export = out / "saved_models" / "sentiment" / "1"
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    served = serve(text=tf.constant(["Happily, the hotel was wonderful, especially the staff.",
                                     "The service was terrible, and I won't be back."]))
    assert [label.decode() for label in served["label"].numpy()] == ["positive", "negative"]


def test_cli_predict_matches_served_model(sentiment_run, tmp_path):
    _, out = sentiment_run
    source = tmp_path / "texts.tsv"
    source.write_text("sentence\nan absolute joy to watch\nthe worst meal I have had\n")
    target = tmp_path / "predicted.jsonl"
    # A fresh process, as a user runs it: nothing imported beforehand.
    completed = subprocess.run(
        [sys.executable, "-m", "tfbert.cli", "predict", str(out / "run"), "--input", str(source),
         "--output", str(target)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["line"] for r in rows] == [2, 3]
    serve = tf.saved_model.load(str(out / "saved_models" / "sentiment" / "1")).signatures["serving_default"]
    served = serve(text=tf.constant([r["text"] for r in rows]))
    assert [r["label"] for r in rows] == [x.decode() for x in served["label"].numpy()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    probabilities = np.array([[r["probabilities"]["negative"], r["probabilities"]["positive"]] for r in rows])
    np.testing.assert_allclose(probabilities, served["probabilities"].numpy(), atol=1e-5)


def test_cli_evaluate_and_its_errors(sentiment_run, tmp_path, capsys):
    _, out = sentiment_run
    data = tmp_path / "labelled.tsv"
    data.write_text("sentence\tlabel\ngreat fun\tpositive\nboring\tnegative\nso so\tmeh\n")
    assert cli.main(["evaluate", str(out / "run"), "--data", str(data)]) == 1
    error = capsys.readouterr().err
    assert "'meh'" in error and str(data) in error and "4" in error
    assert cli.main(["evaluate", str(out / "run"), "--data", str(data), "--on-unknown", "skip",
                     "--output", str(tmp_path / "report")]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["examples"] == 2 and metrics["skipped"] == 1
    assert cli.main(["evaluate", str(tmp_path), "--data", str(data)]) == 1
    assert "is not a training run" in capsys.readouterr().err


def test_multi_label_recipe_starts_at_label_priors_and_exports(tmp_path, monkeypatch):
    """The intent recipe (multi-label) on a tiny random checkpoint: training starts each
    output at its label's prior, and the export answers with the labels over the
    threshold, as in-process predict does."""
    from conftest import write_tiny_checkpoint
    from tfbert.run_directory import RunDirectory
    from tfbert.tasks import TextClassifier

    words = sorted({w for line in (ROOT / "recipes" / "data" / "intent" / "train.jsonl").read_text().split()
                    for w in [line.strip('",{}:').lower()] if w.isalpha()})
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", words[:200])
    starting = []
    original = TextClassifier.initialize_from_targets

    def spy(self, targets):  # what the model answers right after the priors are set
        original(self, targets)
        starting.append((self.predict(["book a table", "play some jazz"])["probabilities"],
                         targets.mean(axis=0)))

    monkeypatch.setattr(TextClassifier, "initialize_from_targets", spy)
    recipe = load_recipe(ROOT / "recipes" / "intent.toml", [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}",
        f"export.dir={tmp_path / 'served'}", "training.epochs=1", "training.batch_size=32"])
    result = train(recipe)
    (probabilities, frequency), = starting
    np.testing.assert_allclose(probabilities, np.tile(np.clip(frequency, 1e-4, 1 - 1e-4), (2, 1)),
                               atol=0.03)
    task = RunDirectory(recipe.output_dir).load_task()
    texts = ["book a table for two and play some jazz", "what is the weather"]
    predicted = task.predict(texts)
    serve = tf.saved_model.load(result["export"]).signatures["serving_default"]
    outputs = serve(text=tf.constant(texts))
    assert outputs["over_threshold"].shape[1] == len(frequency)
    assert [[x.decode() for x in row] for row in outputs["labels"].numpy()] == predicted["labels"].tolist()
    assert all(any(row) for row in predicted["labels"].tolist())  # at least the most likely intent
