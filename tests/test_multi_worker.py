"""training.distribute = "multi_worker": two worker processes on 127.0.0.1.

- Two workers (`tfbert train --workers 2`: ports from bind(0), one intra-op and one
  inter-op thread each) train 15 steps, killed and resumed once (below): both report
  the same weights digest, the chief's weights equal a one-process run with the same
  global batch and seed within 1e-6 (measured: ~1e-8; only float32 summation order
  differs), and only the chief wrote files (the workers' temporary directory is empty
  afterwards).
- One SGD step on two workers moves every weight as one process does, within 1e-6:
  the scale of the gradient summed across workers (tests/test_distribute.py, ONE_STEP).
- One worker killed with SIGKILL mid-epoch (once the chief announces its checkpoint of
  step 4: a line read from its output, not a timer): the launcher stops the other and says so;
  the same command again resumes from the chief's last checkpoint, finishes, and ends
  with the same weights as the run that was never interrupted; the dead worker's
  scratch directory is removed by the next one.

Bad input tried: TF_CONFIG unset, not JSON, not an object, no task, this worker's index
missing or out of range, an unknown job, an address without a port, a duplicated
address; this worker's port already in use; a cluster whose other worker never
starts (an error after training.worker_timeout, not a hang); --workers 1.
Every subprocess here has a timeout.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, write_dropout_free_sentiment_checkpoint
from test_distribute import ONE_STEP, check_one_step
from test_resume import Output, checkpoint_announced, committed_step
from tfbert.training.cluster import check_port_free, read_tf_config
from tfbert.training.launcher import free_ports, tf_config

SETTINGS = ["training.epochs=1", "training.batch_size=16", "data.max_train_examples=240",
            "training.learning_rate=1e-3", "training.dropout=0.0", "training.patience=0",
            "training.baseline=false", "training.checkpoint_every=4"]
STEPS = 15  # 240 examples / 16


def config(index=0, workers=("127.0.0.1:2222", "127.0.0.1:2223")):
    return json.dumps({"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}})


@pytest.mark.parametrize("text, message", [
    ("", "needs TF_CONFIG"),
    ("{cluster: 1}", "TF_CONFIG is not valid JSON: Expecting property name enclosed in double quotes at character 1"),
    ("[1, 2]", "must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', 'no "cluster" object'),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}}', 'no "task" object'),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker"}}', "task.index = None"),
    (config(index=2), "task.index = 2 is not in cluster.worker, which lists 2 address(es): "
                      "127.0.0.1:2222, 127.0.0.1:2223"),
    ('{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "ps", "index": 0}}',
     "task.type = 'ps' is not a job of the cluster"),
    ('{"cluster": {"ps": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker", "index": 0}}',
     "job(s) 'ps'"),
    (config(workers=("127.0.0.1", "127.0.0.1:2223")), "cluster.worker[0] = '127.0.0.1' is not \"host:port\""),
    (config(workers=("h:1", "h:1")), "cluster.worker[1] = 'h:1' is also cluster.worker[0]"),
])
def test_bad_tf_config_is_named(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        read_tf_config(text)


def test_cluster_roles():
    assert read_tf_config(config(0)).is_chief and not read_tf_config(config(1)).is_chief
    with_chief = json.dumps({"cluster": {"chief": ["h:1"], "worker": ["h:2"]},
                             "task": {"type": "worker", "index": 0}})
    assert not read_tf_config(with_chief).is_chief and read_tf_config(with_chief).size == 2


def test_port_in_use_is_named():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        with pytest.raises(ValueError, match=f"port {port} of this process's address 127.0.0.1:{port} "
                                             r"\(cluster.worker\[1\]\) is in use"):
            check_port_free(read_tf_config(config(1, ("127.0.0.1:1", f"127.0.0.1:{port}"))))
    finally:
        listener.close()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_dropout_free_sentiment_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny")


def overrides(checkpoint, out):
    return [f"checkpoint={checkpoint}", f"output_dir={out / 'run'}",
            f"export.dir={out / 'models'}", *SETTINGS]


def weights(run_dir):
    from tfbert.run_directory import RunDirectory

    return {v.path: np.array(v) for v in RunDirectory(run_dir).load_task().weights}


@pytest.fixture(scope="module")
def one_process(checkpoint, tmp_path_factory):
    """The same recipe on one process (global batch 16): the weights to match."""
    from tfbert.recipe import load_recipe
    from tfbert.train import train

    out = tmp_path_factory.mktemp("one")
    settings = [*overrides(checkpoint, out), "export.enabled=false"]
    train(load_recipe(ROOT / "recipes" / "sentiment.toml", settings))
    return weights(out / "run")


def launch(checkpoint, out, scratch, **popen):
    command = [sys.executable, "-m", "tfbert.cli", "train", str(ROOT / "recipes" / "sentiment.toml"),
               "--workers", "2", *(f"--set={item}" for item in overrides(checkpoint, out))]
    env = dict(os.environ, TMPDIR=str(scratch))  # where the non-chief's scratch goes
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def digests(output):
    return dict(re.findall(r"worker (\d): weights after \d+ steps: sha256 ([0-9a-f]+)", output))


def max_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def test_killed_worker_then_same_command_resumes_and_ends_as_one_process(checkpoint, one_process,
                                                                         tmp_path):
    """Two workers; worker 1 killed after the chief's checkpoint of step 4; the same
    command again resumes there and ends with the weights of the one-process run, and
    only the chief wrote files. (Both runs are two-worker runs from their first step:
    an uninterrupted one is not run again.)"""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = launch(checkpoint, tmp_path, scratch)
    output = Output(process)
    try:
        pid = int(output.wait_for(lambda line: re.search(r"started worker 1 \(pid (\d+)\)", line),
                                  "worker 1's pid", timeout=60).group(1))
        announced = output.wait_for(checkpoint_announced(tmp_path / "run" / "resume", 4),
                                    "the chief's checkpoint of step 4", timeout=300)
        os.kill(pid, signal.SIGKILL)
        output = output.rest(timeout=120)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    last = committed_step(tmp_path / "run" / "resume")  # a later one may have been written
    assert 4 <= announced <= last < STEPS
    assert process.returncode != 0
    assert f"worker 1 (pid {pid}) exited with code -9; stopped the others" in output
    assert not (tmp_path / "run" / "finished.json").exists()
    # What the dead worker could not remove (the chief, stopped, has none). TensorFlow's
    # own autograph files of the killed processes are left there too: not tfbert's.
    assert [p.name.startswith(f"tfbert-worker1-{pid}-") for p in scratch.glob("tfbert-*")] == [True]

    again = launch(checkpoint, tmp_path, scratch)
    output, _ = again.communicate(timeout=420)
    assert again.returncode == 0, output[-4000:]
    assert "distribute = multi_worker: 2 replica(s) on 2 worker(s)" in output
    assert "global batch 16 = 8 per replica" in output
    step = int(re.search(rf"resuming from step (\d+)/{STEPS}", output).group(1))
    assert step == last
    found = digests(output)
    assert set(found) == {"0", "1"} and found["0"] == found["1"], output[-3000:]
    assert max_difference(weights(tmp_path / "run"), one_process) < 1e-6
    # Only the chief wrote: the run and the export, nothing else beside them.
    assert sorted(os.listdir(tmp_path)) == ["models", "run", "tmp"]
    assert os.listdir(tmp_path / "models" / "sentiment") == ["1"]
    assert (tmp_path / "run" / "finished.json").is_file()
    assert list(scratch.glob("tfbert-*")) == []  # the dead worker's scratch was removed too


def test_one_sgd_step_on_two_workers_equals_one_process(tmp_path):
    """Two workers (MultiWorkerMirroredStrategy, 127.0.0.1) take one SGD step on a global
    batch of 16; each then takes it alone: every weight moved alike within 1e-6, by
    steps a wrong gradient scale across the workers would change by far more."""
    ports = free_ports(2)
    logs = [tmp_path / f"worker{index}.log" for index in range(2)]
    workers = []
    try:
        for index, log in enumerate(logs):
            env = dict(os.environ, TF_CONFIG=tf_config(ports, index), TF_NUM_INTRAOP_THREADS="1",
                       TF_NUM_INTEROP_THREADS="1", TMPDIR=str(tmp_path))
            with open(log, "w") as out:
                workers.append(subprocess.Popen([sys.executable, "-c", ONE_STEP, "multi_worker"],
                                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        codes = [worker.wait(timeout=420) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0], "\n".join(output[-3000:] for output in outputs)
    reports = [json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
               for output in outputs]
    for report in reports:
        assert report["replicas"] == [1, 2], report
        check_one_step(report)
    assert reports[0]["moved"] == reports[1]["moved"]  # both workers hold the same weights


def test_a_worker_that_never_comes_is_an_error_not_a_hang(tmp_path):
    port, missing = [socket.socket() for _ in range(2)]
    for s in (port, missing):
        s.bind(("127.0.0.1", 0))
    addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in (port, missing)]
    port.close(), missing.close()
    env = dict(os.environ, TF_CONFIG=config(0, addresses), TMPDIR=str(tmp_path))
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "tfbert.cli", "train", str(ROOT / "recipes" / "sentiment.toml"),
         "--set", "training.distribute=multi_worker", "--set", "training.worker_timeout=3",
         "--set", f"output_dir={tmp_path / 'run'}", "--set", "export.enabled=false"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert completed.returncode != 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert ("not every process of the cluster joined within training.worker_timeout = 3 s "
            f"(worker 0 at {addresses[0]}, worker 1 at {addresses[1]})") in completed.stderr
    assert time.monotonic() - started < 170


def test_one_worker_is_refused():
    completed = subprocess.run(
        [sys.executable, "-m", "tfbert.cli", "train", str(ROOT / "recipes" / "sentiment.toml"),
         "--workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1
    assert "--workers 1: a multi-worker run needs at least 2 workers" in completed.stderr
