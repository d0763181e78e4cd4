"""The command line keeps TensorFlow's C++ log lines off stderr, and only those."""

import subprocess
import sys

import pytest

from tfbert.io.quiet_logs import is_noise

# Lines TensorFlow 2.21 printed at start-up on a CPU machine, as a user saw them.
NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796286807.147457    2254 port.cc:153] oneDNN custom operations are on. You may "
    b"see slightly different numerical results due to floating-point round-off errors.",
    b"I0000 00:00:1796286807.148363    2254 cudart_stub.cc:31] Could not find cuda drivers on your "
    b"machine, GPU will not be used.",
    b"E0000 00:00:1796286810.851640    2254 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    b"E0000 00:00:1796286810.990489    2254 util.cc:131] oneDNN supports DT_INT64 only on platforms "
    b"with AVX-512. Falling back to the default Eigen-based implementation if present.",
    b"W1203 08:31:31.990489    2254 loop_optimizer.cc:933] Skipping loop optimization for Merge node",
    b"I0000 00:00:1796286812.069248    2268 cpu_feature_guard.cc:227] This TensorFlow binary is "
    b"optimized to use available CPU instructions in performance-critical operations.",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    b"TensorFlow with the appropriate compiler flags.",
]
KEPT = [
    b"E0000 00:00:1796286810.851640    2254 op_kernel.cc:1830] OP_REQUIRES failed at "
    b"lookup_table_op.cc:929 : NOT_FOUND: vocab.txt; No such file or directory",
    b"F0000 00:00:1796286810.851640    2254 logging.cc:1] Check failed: a == b",
    b"Traceback (most recent call last):",
    b'  File "tfbert/cli.py", line 12, in main',
    b"tfbert: recipe.toml line 3: unknown key 'trainig'",
    b"/x/keras/src/trainers/trainer.py:12: UserWarning: a warning that points at a real problem",
    b"",
    b"Epoch 1/4",
]


@pytest.mark.parametrize("line", NOISE)
def test_start_up_lines_are_noise(line):
    assert is_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_errors_and_python_output_are_kept(line):
    assert not is_noise(line)


def tfbert(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tfbert.cli", *args], capture_output=True,
                          timeout=300, env=env)


def test_commands_are_quiet_and_verbose_brings_the_lines_back():
    quiet = tfbert("tokenize", "Hello world")
    assert quiet.returncode == 0, quiet.stderr.decode()
    assert b'"hello", "world"' in quiet.stdout
    assert quiet.stderr.decode().strip() == ""

    verbose = tfbert("tokenize", "Hello world", "--verbose")
    assert verbose.returncode == 0
    assert b'"hello", "world"' in verbose.stdout
    # On this machine TensorFlow has something to say at start-up (CUDA, oneDNN, CPU
    # features); the quiet run above shows the filter removed it, and only it.
    assert any(is_noise(line) for line in verbose.stderr.splitlines()), verbose.stderr


def test_errors_still_reach_stderr(tmp_path):
    failed = tfbert("tokenize", "Hello", "--checkpoint", str(tmp_path / "missing"))
    assert failed.returncode != 0
    message = failed.stderr.decode()
    assert str(tmp_path / "missing") in message
    assert not any(is_noise(line) for line in failed.stderr.splitlines())
