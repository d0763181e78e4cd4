import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `make test` runs several pytest processes (xdist) side by side, and many tests start
# TensorFlow subprocesses: each TensorFlow sized its thread pools to every core, so the
# processes fought over the cores (a sample of the suite ran 13 % faster with the
# pools sized to each process's share). Subprocesses inherit the setting.
_SHARE = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _SHARE)
os.environ.setdefault("TF_NUM_INTEROP_THREADS", _SHARE)

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
# The benchmark datasets sit beside the project, never inside it. A clone without them
# still passes: tests that read them call benchmark_data(), which skips (or fails, in CI).
DATA = ROOT.parent / "shared" / "data"
REQUIRE_BENCHMARK_DATA = "TFBERT_REQUIRE_BENCHMARK_DATA"

# The slow tier: `make test-fast` runs `-m "not slow"`. Marked here by file name (or
# "file::test" for one test of a file that is otherwise fast), so that a file needs no
# edit to move between tiers. Slow: subprocesses (the CLI, a second Python, TF Serving's
# runtime), training beyond a step, SavedModel exports, the real MiniLM encoder.
# tests/test_stranger_clone.py checks that every name here still exists.
SLOW_FILES = {
    "test_baseline.py",          # tfbert.cli in subprocesses
    "test_batch_predict.py",     # tfbert predict killed in a subprocess
    "test_beam.py",              # a Beam pipeline with two worker processes
    "test_checkpoint.py",        # the real MiniLM encoder, float32 / bfloat16 / Google layout
    "test_distribute.py",        # training on several devices, in subprocesses
    "test_export.py",            # SavedModel exports
    "test_export_crash.py",      # exports killed in subprocesses
    "test_export_xla.py",        # XLA-compiled exports
    "test_explain.py",           # integrated gradients through the real MiniLM encoder
    "test_features.py",          # the real MiniLM encoder, embed exports, the CLI
    "test_multi_worker.py",      # worker processes
    "test_pretraining.py",       # pretraining runs
    "test_pretraining_parity.py",  # the real checkpoint against PyTorch (bench environment)
    "test_quiet_logs.py",        # the CLI in subprocesses
    "test_recipe_run.py",        # recipes trained end to end, the CLI
    "test_reject_below.py",      # training and export
    "test_resume.py",            # killed and resumed training runs
    "test_search.py",            # training runs per trial, in subprocesses
    "test_serving_client.py",    # a model server in a subprocess
    "test_serving_compat.py",    # MiniLM fine-tuned, exported, loaded in TF Serving's runtime
    "test_serving_soak.py",      # a serving soak in a subprocess
    "test_task_contract.py",     # a task kind trained for epochs and exported
    "test_tasks.py",             # tasks trained for several epochs
    "test_token_classifier.py",  # taggers trained for epochs and exported
    "test_tokenizer_fuzz.py",    # hypothesis against the Python reference tokenizer
}
SLOW_TESTS = {
    # training runs
    "test_calibration.py::test_training_calibrates_on_dev_and_keeps_the_temperature",
    # a SavedModel export
    "test_calibration.py::test_the_temperature_moves_no_answer_and_reaches_the_export",
    "test_checkpoint_pooling.py::test_training_with_head_auto_uses_the_checkpoint_pooling",
    "test_early_stopping.py::test_a_run_stops_early_and_is_not_trained_on_when_started_again",
    "test_long_text.py::test_training_reads_what_only_the_end_of_a_long_text_says",
    "test_families.py::test_a_distilbert_recipe_trains_evaluates_and_exports",
    # the real MiniLM encoder
    "test_checkpoint_writer.py::test_minilm_written_back_equals_its_original_weights",
    # a SavedModel export
    "test_crf.py::test_saved_model_of_decode_runs_after_loading",
    # a second Python
    "test_config.py::test_config_module_does_not_import_tensorflow",
    "test_layers_of_the_package.py::test_recipes_and_served_rows_load_without_tensorflow",
    "test_metrics_and_report.py::test_metrics_and_report_load_without_tensorflow",
}


def benchmark_data(name):
    """The path of ../shared/data/<name> (a dataset folder or file), else a skip that
    says what is missing; under TFBERT_REQUIRE_BENCHMARK_DATA=1 (CI) a failure instead."""
    path = DATA / name
    if path.exists():
        return path
    message = (f"needs ../shared/data/{name} (the benchmark datasets, present in CI; "
               f"not found at {path})")
    if os.environ.get(REQUIRE_BENCHMARK_DATA, "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message}; {REQUIRE_BENCHMARK_DATA} is set, so this is a failure, not a skip",
                    pytrace=False)
    pytest.skip(message)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: subprocesses, training beyond a step, SavedModel exports or the real "
        "MiniLM encoder; `make test-fast` leaves these out (-m \"not slow\")")


# The longest files (minutes each on two cores), run first: `make test` hands whole
# files to two processes, and one of these started last would leave the other idle.
# (Measured with --junitxml on two cores; `make test` passes --no-loadscope-reorder so
# that xdist keeps this order.)
LONGEST_FILES = ["test_serving_compat.py", "test_multi_worker.py", "test_resume.py", "test_tasks.py",
                 "test_export.py", "test_export_crash.py", "test_token_classifier.py",
                 "test_export_xla.py", "test_recipe_run.py", "test_search.py",
                 "test_batch_predict.py", "test_beam.py",
                 "test_tokenizer_fuzz.py", "test_distribute.py", "test_quiet_logs.py",
                 "test_pretraining.py", "test_features.py", "test_serving_client.py",
                 "test_serving_soak.py", "test_reject_below.py", "test_long_text.py",
                 "test_calibration.py", "test_tokenizer.py", "test_explain.py", "test_families.py"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        file, name = item.path.name, getattr(item, "originalname", item.name)
        if file in SLOW_FILES or f"{file}::{name}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: in-file order kept


TINY_CONFIG = dict(
    vocab_size=100,
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    type_vocab_size=2,
)


@pytest.fixture(scope="session")
def minilm_dir():
    from tfbert.models.pretrained import resolve_checkpoint_dir

    return resolve_checkpoint_dir("all-minilm-l6-v2")


@pytest.fixture(scope="session")
def minilm_encoder():
    from tfbert import BertEncoder

    return BertEncoder.from_pretrained("all-minilm-l6-v2")


def write_tiny_checkpoint(directory, words, seed=0, **config):
    """A random tiny BERT as a Hugging Face directory (config, vocab, safetensors)."""
    import keras

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.models.checkpoint_writer import save_hugging_face

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))
    keras.utils.set_random_seed(seed)
    encoder = BertEncoder(**dict(TINY_CONFIG, vocab_size=len(vocab), **config))
    return save_hugging_face(directory, encoder, BertTokenizer(vocab), overwrite=True)


def write_dropout_free_sentiment_checkpoint(directory):
    """A tiny BERT on the sample sentiment words, without dropout: replicas of a
    distributed run draw their own dropout masks, so runs compared weight by weight
    across device counts must have none."""
    import re

    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = sorted(set(re.findall(r"[a-z]+", text)))[:300]
    return write_tiny_checkpoint(directory, words, hidden_dropout=0.0, attention_dropout=0.0)
