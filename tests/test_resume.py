"""Kill a training run mid-epoch, start it again: it continues where it stopped."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, write_tiny_checkpoint
from tfbert.recipe import load_recipe, recipe_to_dict
from tfbert.run_directory import RunDirectory

TOTAL_STEPS = 100  # 400 sample examples / batch 8 = 50 steps per epoch, 2 epochs


def sample_words():
    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = re.findall(r"[a-z]+", text)
    return [w for w in set(words) if words.count(w) > 2]


def train_command(checkpoint, run_dir):
    return [
        sys.executable, "-m", "tfbert.cli", "train", str(ROOT / "recipes" / "sentiment.toml"),
        "--set", f"checkpoint={checkpoint}", "--set", f"output_dir={run_dir}",
        "--set", "training.epochs=2", "--set", "training.batch_size=8",
        "--set", "training.checkpoint_every=10", "--set", "training.learning_rate=1e-3",
        "--set", "export.enabled=false",
    ]


def test_killed_run_resumes_exactly_where_it_stopped(tmp_path):
    """kill -9 mid-epoch, run the same command again: it trains only the remaining
    steps, on the same batches with the same dropout, and ends where a run that was
    never interrupted ends (same weights, same dev metric)."""
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", sample_words())
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    straight_dir = tmp_path / "straight"
    straight = subprocess.run(train_command(checkpoint, straight_dir), cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, (straight.stdout + straight.stderr)[-3000:]
    assert f"trained {TOTAL_STEPS} steps (of {TOTAL_STEPS})" in straight.stdout

    run_dir = tmp_path / "run"
    command = train_command(checkpoint, run_dir)
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    resume_dir = run_dir / "resume"
    try:
        # Wait for a checkpoint past step 60 (mid second epoch), then kill -9.
        while time.time() < deadline:
            steps = [int(m.group(1)) for p in resume_dir.glob("ckpt-*.index")
                     if (m := re.match(r"ckpt-(\d+)\.index", p.name))]
            if any(60 <= s < TOTAL_STEPS for s in steps):
                break
            assert first.poll() is None, first.stdout.read().decode()[-3000:]
            time.sleep(0.2)
        else:
            raise AssertionError("no mid-run checkpoint appeared")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert not (run_dir / "model.keras").exists()  # it really died before the end

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-3000:]
    resumed = re.search(r"resuming from step (\d+)/(\d+)", output)
    assert resumed, output[-3000:]
    step, total = int(resumed.group(1)), int(resumed.group(2))
    assert total == TOTAL_STEPS and 60 <= step < TOTAL_STEPS
    # Only the remaining steps ran (counted by the optimizer, not the plan).
    assert f"trained {TOTAL_STEPS - step} steps (of {TOTAL_STEPS})" in second.stdout, output[-3000:]
    assert (resume_dir / f"ckpt-{TOTAL_STEPS}.index").exists()

    resumed_run, straight_run = RunDirectory(run_dir), RunDirectory(straight_dir)
    for weight, other in zip(resumed_run.load_task().get_weights(),
                             straight_run.load_task().get_weights()):
        np.testing.assert_allclose(weight, other, atol=1e-5)
    metrics = [json.loads((run.evaluation_dir("dev") / "metrics.json").read_text())
               for run in (resumed_run, straight_run)]
    assert metrics[0]["accuracy"] == metrics[1]["accuracy"]
    assert json.loads(resumed_run.dev_state_file.read_text()) == json.loads(
        straight_run.dev_state_file.read_text())


def test_resume_refuses_a_changed_recipe(tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml")
    run = RunDirectory(tmp_path)
    (tmp_path / "recipe.json").write_text(json.dumps(recipe_to_dict(recipe)))
    run.check_resumable(recipe)  # no checkpoint yet: anything goes
    (tmp_path / "resume").mkdir()
    (tmp_path / "resume" / "ckpt-10.index").write_bytes(b"")
    run.check_resumable(recipe)  # the same recipe continues
    run.check_resumable(load_recipe(ROOT / "recipes" / "sentiment.toml", ["export.enabled=false"]))
    changed = load_recipe(ROOT / "recipes" / "sentiment.toml",
                          ["classification.head=attention", "training.learning_rate=0.5"])
    with pytest.raises(ValueError, match=r"different recipe \(classification.head: 'cls' -> "
                                         r"'attention'; training.learning_rate: 0.0001 -> 0.5\)"):
        run.check_resumable(changed)
