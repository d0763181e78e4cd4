"""training.distribute = "mirrored" on two logical CPU devices: the weights after N steps
equal a one-device run with the same global batch and seed, and the export serves
what the model predicts.

Tolerance: 1e-5 absolute on every weight after 1 epoch of 15 steps at 1e-3 with
gradient clipping on. The two runs differ only in the order in which per-replica
gradients are summed (float32 round-off, then amplified a little by Adam).

That comparison cannot see the scale of the summed gradient: clipping at 1.0 and
Adam's step (about lr * g / |g|) both divide it out, so replicas whose gradients were
summed twice over (or averaged once too often) train the same weights. One step of
plain SGD without clipping can see it (`ONE_STEP`): w -= lr * g moves every weight
in proportion to the gradient. The optimizer is AdamWWithHeadRate with only its
per-variable step replaced by SGD's, so the gradients go the way training sends
them (the loss scaled per replica by Keras, `apply`, `_clip_gradients`, the replica
sum in `_all_reduce_sum_gradients`). One device and two replicas (and two workers:
tests/test_multi_worker.py) move every weight by the same amount within 1e-6 (measured
~1e-7; the largest move is about 0.07). The model is spread() so that the replicas'
rows give different gradients: taking one replica's gradient for the sum fails too.

The export of the mirrored run serves what the model predicts: on a checkpoint
spread() before training (a freshly initialised one answers every text within 1e-6
of every other), compared with assert_rows_match.

Bad input tried: a global batch the replicas cannot share, an unknown strategy.
"""

import json
import re
import subprocess
import sys
import textwrap
import types

import pytest

import numpy as np

from conftest import ROOT, write_dropout_free_sentiment_checkpoint
from tfbert.recipe import RecipeError, load_recipe
from tiny_models import assert_rows_match, min_row_gap, spread

SERVED_TEXTS = ["a good film", "the plot was bad", "fine", "not very good at all", "an awful movie",
                "great acting but a weak story"]

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from tfbert.recipe import load_recipe
    from tfbert.run_directory import RunDirectory
    from tfbert.train import train

    checkpoint, out = sys.argv[1], sys.argv[2]
    weights, result = {}, {}
    for distribute in ("none", "mirrored"):
        recipe = load_recipe("recipes/sentiment.toml", [
            f"checkpoint={checkpoint}", f"output_dir={out}/{distribute}", f"export.dir={out}/models",
            f"export.name={distribute}", f"export.enabled={str(distribute == 'mirrored').lower()}",
            "training.epochs=1", "training.batch_size=16",
            "data.max_train_examples=240", "training.learning_rate=1e-3", "training.dropout=0.0",
            "training.patience=0", "training.baseline=false", f"training.distribute={distribute}"])
        result[distribute] = train(recipe)
        task = RunDirectory(f"{out}/{distribute}").load_task()
        weights[distribute] = {v.path: np.array(v) for v in task.weights}
    texts = json.loads(sys.argv[3])
    served = tf.saved_model.load(result["mirrored"]["export"]).signatures["serving_default"](
        text=tf.constant(texts))["probabilities"].numpy()
    expected = RunDirectory(f"{out}/mirrored").load_task().predict(texts)["probabilities"]
    print(json.dumps({
        "max_difference": max(float(np.abs(weights["none"][k] - weights["mirrored"][k]).max())
                              for k in weights["none"]),
        "same_paths": sorted(weights["none"]) == sorted(weights["mirrored"]),
        "steps": [result[d]["steps_run"] for d in ("none", "mirrored")],
        "served": served.tolist(), "expected": expected.tolist(),
        "dev": [result[d]["dev"]["accuracy"] for d in ("none", "mirrored")],
    }))
""")

# One step of SGD on 1 device and on 2 replicas (or 2 workers): `python -c ONE_STEP MODE`,
# MODE "mirrored" (one device, then two logical CPUs) or "multi_worker" (TF_CONFIG set:
# two workers, then this process alone). Prints one JSON line.
ONE_STEP = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    mode = sys.argv[1]
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, "tests")

    import keras
    from tfbert.tasks import TextClassifier
    from tfbert.training.distribute import make_strategy
    from tfbert.training.optimizer import AdamWWithHeadRate
    from tiny_models import WORDS, spread, tiny

    class SGDStep(AdamWWithHeadRate):
        # AdamWWithHeadRate's way to the step (apply, _clip_gradients, the replica sum
        # in _all_reduce_sum_gradients), then plain SGD: w -= lr * g.
        def update_step(self, gradient, variable, learning_rate):
            gradient = tf.convert_to_tensor(gradient, variable.dtype)
            variable.assign_sub(tf.cast(learning_rate, variable.dtype) * gradient)

    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 9)))) for _ in range(16)]
    labels = [("negative", "positive")[int(rng.integers(2))] for _ in range(16)]

    def one_step(strategy):
        # One global batch of 16 rows (8 per replica), no dropout, no weight decay, no clipping.
        with (strategy or tf.distribute.get_strategy()).scope():
            encoder, tokenizer = tiny()
            task = spread(TextClassifier(encoder, tokenizer, ["negative", "positive"], dropout=0.0),
                          scale=0.1)
            task.compile(optimizer=SGDStep(learning_rate=0.5, weight_decay=0.0))
        replicas = (strategy or tf.distribute.get_strategy()).num_replicas_in_sync
        before = [keras.ops.convert_to_numpy(v) for v in task.trainable_variables]
        task.fit(texts, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
        moved = [keras.ops.convert_to_numpy(v) - b for v, b in zip(task.trainable_variables, before)]
        return replicas, int(task.optimizer.iterations.numpy()), moved

    if mode == "mirrored":
        runs = [one_step(None), one_step(make_strategy("mirrored")[0])]
    else:
        runs = [one_step(make_strategy("multi_worker")[0])]
        runs = [one_step(None), runs[0]]  # then this process alone
    (_, _, alone), (_, _, together) = runs
    print(json.dumps({
        "replicas": [r for r, _, _ in runs], "iterations": [i for _, i, _ in runs],
        "largest_move": max(float(np.abs(m).max()) for m in alone),
        "max_difference": max(float(np.abs(a - b).max()) for a, b in zip(alone, together)),
        "moved": [round(float(np.abs(m).max()), 6) for m in together],
    }))
""")


def check_one_step(report):
    """One device and several replicas moved every weight alike, by a step that a
    wrong gradient scale would change far beyond the tolerance."""
    assert report["iterations"] == [1, 1] and report["replicas"][0] == 1, report
    assert report["largest_move"] > 0.01, report  # a doubled gradient moves it 0.01 more
    assert report["max_difference"] < 1e-6, report


def test_bad_distribute_settings(tmp_path):
    with pytest.raises(RecipeError, match=re.escape("training.distribute = 'tpu' is not one of")):
        load_recipe(ROOT / "recipes" / "sentiment.toml", ["training.distribute=tpu"])
    from tfbert.training.distribute import describe

    two_replicas = types.SimpleNamespace(num_replicas_in_sync=2)  # only the count is read first
    with pytest.raises(ValueError, match="batch_size = 15 is the global batch; it must be a multiple "
                                         "of the 2 replicas"):
        describe(two_replicas, 15)


def write_spread_sentiment_checkpoint(directory):
    """write_dropout_free_sentiment_checkpoint's tiny BERT with spread() weights: after
    15 steps its answers differ from text to text (a freshly initialised one's are
    all within 1e-6 of each other: any row would pass for any other)."""
    from tfbert import BertEncoder, BertTokenizer
    from tfbert.models.checkpoint_writer import save_hugging_face

    path = write_dropout_free_sentiment_checkpoint(directory)
    encoder = spread(BertEncoder.from_pretrained(path))
    return save_hugging_face(path, encoder, BertTokenizer.from_pretrained(path), overwrite=True)


def test_mirrored_on_two_devices_equals_one_device(tmp_path):
    checkpoint = write_spread_sentiment_checkpoint(tmp_path / "tiny")

    completed = subprocess.run([sys.executable, "-c", SCRIPT, str(checkpoint), str(tmp_path),
                                json.dumps(SERVED_TEXTS)],
                               cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "distribute = mirrored: 2 replica(s)" in completed.stdout
    assert "global batch 16 = 8 per replica" in completed.stdout
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["same_paths"] and report["steps"] == [15, 15]
    assert report["max_difference"] < 1e-5, {k: report[k] for k in ("max_difference", "steps")}
    expected = np.asarray(report["expected"])
    print(f"\nserved rows: closest pair {min_row_gap(expected):.1e} apart")
    assert_rows_match(report["served"], expected, atol=1e-5)


def test_one_sgd_step_on_two_replicas_equals_one_device():
    """The gradient's scale across replicas: see the module docstring."""
    completed = subprocess.run([sys.executable, "-c", ONE_STEP, "mirrored"], cwd=ROOT,
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["replicas"] == [1, 2], report
    check_one_step(report)
