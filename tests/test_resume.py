"""Kill a training run mid-epoch, start it again: it continues where it stopped."""

import os
import re
import signal
import subprocess
import sys
import time

from conftest import ROOT, write_tiny_checkpoint

TOTAL_STEPS = 100  # 400 sample examples / batch 8 = 50 steps per epoch, 2 epochs


def sample_words():
    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = re.findall(r"[a-z]+", text)
    return [w for w in set(words) if words.count(w) > 2]


def test_killed_run_resumes_mid_epoch(tmp_path):
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", sample_words())
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "tfbert.cli", "train", str(ROOT / "recipes" / "sentiment.toml"),
        "--set", f"checkpoint={checkpoint}", "--set", f"output_dir={run_dir}",
        "--set", "training.epochs=2", "--set", "training.batch_size=8",
        "--set", "training.checkpoint_every=10", "--set", "training.learning_rate=1e-3",
        "--set", "export.enabled=false",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
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
    # It trained only the remaining steps, and finished the run.
    assert (resume_dir / f"ckpt-{TOTAL_STEPS}.index").exists()
    assert f"trained {TOTAL_STEPS} steps" in output
    assert (run_dir / "model.keras").exists()
    assert (run_dir / "eval_dev" / "metrics.json").exists()


def test_resume_refuses_a_changed_recipe(tmp_path):
    import json

    import pytest

    from tfbert.recipe import load_recipe, recipe_to_dict
    from tfbert.training.run import check_resumable

    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml")
    (tmp_path / "recipe.json").write_text(json.dumps(recipe_to_dict(recipe)))
    check_resumable(recipe, tmp_path)  # no checkpoint yet: anything goes
    (tmp_path / "resume").mkdir()
    (tmp_path / "resume" / "ckpt-10.index").write_bytes(b"")
    check_resumable(recipe, tmp_path)  # the same recipe continues
    check_resumable(load_recipe(ROOT / "recipes" / "sentiment.toml", ["export.enabled=false"]), tmp_path)
    changed = load_recipe(ROOT / "recipes" / "sentiment.toml",
                          ["head=attention", "training.learning_rate=0.5"])
    with pytest.raises(ValueError, match=r"different recipe \(head: 'cls' -> 'attention'; "
                                         r"training.learning_rate: 0.0001 -> 0.5\)"):
        check_resumable(changed, tmp_path)
