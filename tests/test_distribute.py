"""training.distribute = "mirrored" on two logical CPU devices: the weights after N steps
equal a one-device run with the same global batch and seed, and the export serves
what the model predicts.

Tolerance: 1e-5 absolute on every weight after 1 epoch of 15 steps at 1e-3 with
gradient clipping on. The two runs differ only in the order in which per-replica
gradients are summed (float32 round-off, then amplified a little by Adam).

Bad input tried: a global batch the replicas cannot share, an unknown strategy.
"""

import json
import re
import subprocess
import sys
import textwrap
import types

import pytest

from conftest import ROOT, write_dropout_free_sentiment_checkpoint
from tfbert.recipe import RecipeError, load_recipe

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
            f"export.name={distribute}", "training.epochs=1", "training.batch_size=16",
            "data.max_train_examples=240", "training.learning_rate=1e-3", "training.dropout=0.0",
            "training.patience=0", "training.baseline=false", f"training.distribute={distribute}"])
        result[distribute] = train(recipe)
        task = RunDirectory(f"{out}/{distribute}").load_task()
        weights[distribute] = {v.path: np.array(v) for v in task.weights}
    texts = ["a good film", "the plot was bad", "fine", "not very good at all"]
    served = tf.saved_model.load(result["mirrored"]["export"]).signatures["serving_default"](
        text=tf.constant(texts))["probabilities"].numpy()
    expected = RunDirectory(f"{out}/mirrored").load_task().predict(texts)["probabilities"]
    print(json.dumps({
        "max_difference": max(float(np.abs(weights["none"][k] - weights["mirrored"][k]).max())
                              for k in weights["none"]),
        "same_paths": sorted(weights["none"]) == sorted(weights["mirrored"]),
        "steps": [result[d]["steps_run"] for d in ("none", "mirrored")],
        "served_vs_model": float(np.abs(served - expected).max()),
        "dev": [result[d]["dev"]["accuracy"] for d in ("none", "mirrored")],
    }))
""")


def test_bad_distribute_settings(tmp_path):
    with pytest.raises(RecipeError, match=re.escape("training.distribute = 'tpu' is not one of")):
        load_recipe(ROOT / "recipes" / "sentiment.toml", ["training.distribute=tpu"])
    from tfbert.training.distribute import describe

    two_replicas = types.SimpleNamespace(num_replicas_in_sync=2)  # only the count is read first
    with pytest.raises(ValueError, match="batch_size = 15 is the global batch; it must be a multiple "
                                         "of the 2 replicas"):
        describe(two_replicas, 15)


def test_mirrored_on_two_devices_equals_one_device(tmp_path):
    checkpoint = write_dropout_free_sentiment_checkpoint(tmp_path / "tiny")

    completed = subprocess.run([sys.executable, "-c", SCRIPT, str(checkpoint), str(tmp_path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "distribute = mirrored: 2 replica(s)" in completed.stdout
    assert "global batch 16 = 8 per replica" in completed.stdout
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["same_paths"] and report["steps"] == [15, 15]
    assert report["max_difference"] < 1e-5, report
    assert report["served_vs_model"] < 1e-5, report
