"""Kill a training run mid-epoch, start it again: it continues where it stopped."""

import ctypes
import io
import json
import os
import queue
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile

import h5py
import numpy as np
import pytest

from conftest import ROOT, write_tiny_checkpoint
from tfbert.cli import main
from tfbert.recipe import load_recipe, recipe_to_dict
from tfbert.run_directory import RunDirectory

TOTAL_STEPS = 50  # 200 of the sample's examples / batch 8 = 25 steps per epoch, 2 epochs


def sample_words():
    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = re.findall(r"[a-z]+", text)
    return [w for w in set(words) if words.count(w) > 2]


def train_command(checkpoint, run_dir):
    return [
        sys.executable, "-m", "tfbert.cli", "train", str(ROOT / "recipes" / "sentiment.toml"),
        "--set", f"checkpoint={checkpoint}", "--set", f"output_dir={run_dir}",
        "--set", "data.max_train_examples=200", "--set", "training.epochs=2",
        "--set", "training.batch_size=8",
        "--set", "training.checkpoint_every=10", "--set", "training.learning_rate=1e-3",
        "--set", "export.enabled=false",
    ]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), sample_words())


@pytest.fixture(scope="module")
def straight_run(tiny_checkpoint, tmp_path_factory):
    """The run that is never interrupted: what every resumed run must end as."""
    run_dir = tmp_path_factory.mktemp("runs") / "straight"
    straight = subprocess.run(train_command(tiny_checkpoint, run_dir), cwd=run_dir.parent,
                              env=ENV, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, (straight.stdout + straight.stderr)[-3000:]
    assert f"trained {TOTAL_STEPS} steps (of {TOTAL_STEPS})" in straight.stdout
    return run_dir


ENV = dict(os.environ, PYTHONUNBUFFERED="1")


# What ResumeCheckpoint prints once a checkpoint is written whole (callbacks.py).
CHECKPOINT_LINE = re.compile(r"resume checkpoint: step (\d+) \((.+)\)")


class Output:
    """A process's output (stderr merged into stdout), read line by line by a thread as
    it comes: the test waits for a line the process prints at a known moment, never for
    a timer, and the pipe never fills while it waits."""

    def __init__(self, process):
        self.process, self.lines, self._queue = process, [], queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        end = "" if isinstance(self.process.stdout, io.TextIOBase) else b""
        for line in iter(self.process.stdout.readline, end):
            self._queue.put(line.decode(errors="replace") if isinstance(line, bytes) else line)
        self._queue.put(None)  # end of output

    @property
    def text(self):
        return "".join(self.lines)

    def wait_for(self, matches, what, timeout=240):
        """Reads lines until `matches(line)` is truthy; returns what it returned."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line announced {what} within {timeout} s:\n"
                                     + self.text[-3000:]) from None
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"the process ended (rc {self.process.wait()}) before it "
                                     f"announced {what}:\n" + self.text[-3000:])
            self.lines.append(line)
            found = matches(line)
            if found:
                return found

    def rest(self, timeout=120):
        """Reads until the process closes its output; returns the whole text."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                self._queue.put(None)
                return self.text
            self.lines.append(line)


def checkpoint_announced(directory, at_least=0):
    """matches() for Output.wait_for: the step of a checkpoint of `directory` at
    `at_least` or later, written whole."""
    def matches(line):
        found = CHECKPOINT_LINE.search(line)
        if (found and os.path.realpath(found.group(2)) == os.path.realpath(directory)
                and int(found.group(1)) >= at_least):
            return int(found.group(1))
        return None
    return matches


def killed(process):
    process.send_signal(signal.SIGKILL)
    return process.wait()


class CreatedNames:
    """Linux inotify on a directory: the names created (or renamed) into it, reported by
    the kernel as each appears, so a writer can be frozen the moment it starts a file."""

    IN_MOVED_TO, IN_CREATE = 0x80, 0x100
    HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name

    def __init__(self, directory):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, os.fsencode(directory),
                                                 self.IN_CREATE | self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {directory}")

    def next(self, timeout):
        """The names created since the last call, waiting up to `timeout` s for one."""
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        data, names, offset = os.read(self.fd, 1 << 16), [], 0
        while offset < len(data):
            _, mask, _, length = self.HEADER.unpack_from(data, offset)
            start = offset + self.HEADER.size
            name = data[start:start + length].rstrip(b"\0").decode()
            if mask & (self.IN_CREATE | self.IN_MOVED_TO) and name:  # not IN_IGNORED etc.
                names.append(name)
            offset = start + length
        return names

    def close(self):
        os.close(self.fd)


def resume_and_compare(command, run_dir, straight_dir, killed_after):
    """Runs the killed command again: it resumes from a step after `killed_after`
    steps at most, trains only the rest, and ends as the straight run ended."""
    assert not (run_dir / "model.keras").exists()  # it really died before the end
    second = subprocess.run(command, cwd=run_dir.parent, env=ENV, capture_output=True, text=True,
                            timeout=300)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-3000:]
    resumed = re.search(r"resuming from step (\d+)/(\d+)", output)
    assert resumed, output[-3000:]
    step, total = int(resumed.group(1)), int(resumed.group(2))
    assert total == TOTAL_STEPS and 0 < step <= killed_after
    # Only the remaining steps ran (counted by the optimizer, not the plan).
    assert f"trained {TOTAL_STEPS - step} steps (of {TOTAL_STEPS})" in second.stdout, output[-3000:]

    resumed_run, straight_run = RunDirectory(run_dir), RunDirectory(straight_dir)
    for weight, other in zip(resumed_run.load_task().get_weights(),
                             straight_run.load_task().get_weights()):
        np.testing.assert_allclose(weight, other, atol=1e-5, err_msg=f"resumed from step {step}")
    metrics = [json.loads((run.evaluation_dir("dev") / "metrics.json").read_text())
               for run in (resumed_run, straight_run)]
    assert metrics[0]["accuracy"] == metrics[1]["accuracy"]
    assert json.loads(resumed_run.dev_state_file.read_text()) == json.loads(
        straight_run.dev_state_file.read_text())
    return step


def committed_step(resume_dir):
    """The step of the checkpoint a restart resumes from: the one TensorFlow's state file
    (`checkpoint`, replaced whole after each checkpoint is written) names; 0 if none."""
    try:
        state = (resume_dir / "checkpoint").read_text()
    except FileNotFoundError:
        return 0
    found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state, re.M)
    return int(found.group(1)) if found else 0


def test_killed_run_resumes_exactly_where_it_stopped(tmp_path, tiny_checkpoint, straight_run):
    """kill -9 mid-epoch (once the run prints that its checkpoint of step 30 is written),
    run the same command again: it resumes from the last checkpoint written before the
    kill, trains only the remaining steps, on the same batches with the same dropout,
    and ends where a run that was never interrupted ends (same weights, same dev metric)."""
    run_dir = tmp_path / "run"
    command = train_command(tiny_checkpoint, run_dir)
    first = subprocess.Popen(command, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    output = Output(first)
    try:  # the run announces its checkpoint of step 30 (mid second epoch): kill -9 then
        announced = output.wait_for(checkpoint_announced(run_dir / "resume", 30), "step 30's checkpoint")
    finally:
        killed(first)
    last = committed_step(run_dir / "resume")  # a later one may have been written before the kill
    print(f"\nkilled after the checkpoint of step {announced}; last whole checkpoint: step {last}")
    assert 30 <= announced <= last < TOTAL_STEPS
    step = resume_and_compare(command, run_dir, straight_run, last)
    assert step == last


def test_killed_at_an_epoch_end_checkpoint_the_epoch_is_evaluated(tmp_path, tiny_checkpoint,
                                                                   straight_run):
    """kill -9 the moment the checkpoint of the first epoch's last step (25) is written:
    that checkpoint comes after the epoch's dev evaluation, so the evaluation is on disk
    and the resumed run ends as the straight one (same best epoch, same weights). Saved
    before the evaluation, the resumed run would start in epoch 2 and never score epoch 1."""
    run_dir = tmp_path / "run"
    command = train_command(tiny_checkpoint, run_dir) + ["--set", "training.checkpoint_every=1"]
    first = subprocess.Popen(command, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    output = Output(first)
    try:
        output.wait_for(checkpoint_announced(run_dir / "resume", 25), "step 25's checkpoint")
    finally:
        killed(first)
    assert json.loads(RunDirectory(run_dir).dev_state_file.read_text())["epoch"] == 1
    resume_and_compare(command, run_dir, straight_run, committed_step(run_dir / "resume"))


def test_killed_while_writing_a_resume_checkpoint(tmp_path, tiny_checkpoint, straight_run):
    """kill -9 while TensorFlow writes a resume checkpoint: once the run has announced
    its checkpoint of step 10, the process is frozen (SIGSTOP) the moment the kernel
    reports a half-written one created (`ckpt-N_temp/` shards or the `checkpoint.tmp*`
    state file: inotify, no polling), and killed if it is still on disk. The
    half-written checkpoint is not read: the run resumes from the last whole one and
    ends as the straight run does."""
    run_dir = tmp_path / "run"
    resume_dir = run_dir / "resume"
    command = train_command(tiny_checkpoint, run_dir) + ["--set", "training.checkpoint_every=1"]
    first = subprocess.Popen(command, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    output = Output(first)

    def half_written():
        names = [entry.name for entry in os.scandir(resume_dir)]
        return [n for n in names if n.endswith("_temp") or n.startswith("checkpoint.tmp")]

    partial, deadline = [], time.monotonic() + 240
    try:  # mid-run: past the first epoch's start; then the next half-written one
        output.wait_for(checkpoint_announced(resume_dir, 10), "step 10's checkpoint")
        created = CreatedNames(resume_dir)
        try:
            while not partial:
                assert first.poll() is None, "it ended before a checkpoint was caught half-written"
                assert time.monotonic() < deadline, "no checkpoint was caught half-written"
                if any(n.endswith("_temp") or n.startswith("checkpoint.tmp") for n in created.next(1.0)):
                    first.send_signal(signal.SIGSTOP)
                    partial = half_written()
                    if not partial:  # the write finished before the freeze: go on
                        first.send_signal(signal.SIGCONT)
        finally:
            created.close()
    finally:
        killed(first)
    assert partial and set(partial) <= {entry.name for entry in os.scandir(resume_dir)}
    last_whole = committed_step(resume_dir)
    print(f"\nkilled while writing: {sorted(partial)}; last whole checkpoint: step {last_whole}")
    step = resume_and_compare(command, run_dir, straight_run, last_whole + 1)
    assert step == last_whole


def test_a_finished_run_keeps_its_weights_once(straight_run, tiny_checkpoint):
    """No resume checkpoints, no best-weights copy and no optimizer state are left
    in a finished run: model.keras is about the size of the weights."""
    run = RunDirectory(straight_run)
    assert run.finished_file.is_file()
    assert not run.resume_dir.exists() and not run.best_weights_file.exists()
    weight_files = [p for p in straight_run.rglob("*") if p.suffix in (".h5", ".keras")
                    or p.name.startswith("ckpt-")]
    assert weight_files == [run.model_file]
    with zipfile.ZipFile(run.model_file) as archive, archive.open("model.weights.h5") as weights:
        with h5py.File(io.BytesIO(weights.read())) as h5:
            assert "optimizer" not in h5, list(h5)
    task = run.load_task()
    weights_bytes = sum(w.nbytes for w in task.get_weights())
    assert run.model_file.stat().st_size < 1.1 * weights_bytes + 200_000


def test_a_finished_run_is_not_trained_again_unless_forced(straight_run, tiny_checkpoint, capsys):
    """The same command, and one with a changed value, say the run is finished and how
    to start another; the run's files are untouched. (In this process: the refusal
    comes before any training.)"""
    run = RunDirectory(straight_run)
    before = {p: p.stat().st_mtime_ns for p in straight_run.rglob("*")}
    capsys.readouterr()
    assert main(train_command(tiny_checkpoint, straight_run)[3:]
                + ["--set", "training.learning_rate=0.5"]) == 1
    error = capsys.readouterr().err
    assert "holds a finished run" in error and "--force" in error, error
    assert "interrupted" not in error
    assert "Traceback" not in error
    assert {p: p.stat().st_mtime_ns for p in straight_run.rglob("*")} == before

    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [f"output_dir={straight_run}"])
    with pytest.raises(FileExistsError, match="finished run"):
        run.start(recipe)


def test_force_replaces_a_finished_run(tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [f"output_dir={tmp_path}"])
    (tmp_path / "recipe.json").write_text(json.dumps(recipe_to_dict(recipe)))
    (tmp_path / "finished.json").write_text("{}")
    (tmp_path / "model.keras").write_bytes(b"old")
    RunDirectory(tmp_path).start(recipe, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.json"]


def test_output_dir_that_is_not_a_run_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("a user's file")
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [f"output_dir={tmp_path}"])
    for force in (False, True):
        with pytest.raises(FileExistsError, match=r"not a tfbert run directory \(no recipe.json\)"):
            RunDirectory(tmp_path).start(recipe, force=force)
    assert (tmp_path / "notes.txt").read_text() == "a user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_unwritable_directories_fail_before_training(tmp_path, capsys):
    """A file where a directory must be (as root, permissions do not stop a write):
    the error names the key and the path, and comes before any training."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [f"output_dir={blocker / 'run'}"])
    with pytest.raises(ValueError, match=r"cannot write the run directory .*a-file/run"):
        RunDirectory(recipe.output_dir).start(recipe)
    with pytest.raises(NotADirectoryError, match="is a file"):
        RunDirectory(blocker).start(recipe)

    capsys.readouterr()
    code = main(["train", str(ROOT / "recipes" / "sentiment.toml"), "--set",
                 f"output_dir={tmp_path / 'run'}", "--set", f"export.dir={blocker / 'models'}"])
    result = capsys.readouterr()
    assert code == 1, result.out + result.err
    assert "export.dir" in result.err and "a-file/models" in result.err, result.err
    assert "Epoch" not in result.out + result.err  # before training, not after


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
    with pytest.raises(ValueError, match=r"different recipe \(classification.head: 'auto' -> "
                                         r"'attention'; training.learning_rate: 0.0001 -> 0.5\)"):
        run.check_resumable(changed)
