"""Makes each defect a test is named for, once, and runs that test: it must fail.

    python tools/check_mutations.py [NUMBER ...]    # all, or some, of MUTATIONS

Each mutation is applied to a fresh copy of HEAD (`git archive`) in a temporary folder,
never to this checkout; the named test runs there with this Python (TFBERT_SERVING_PYTHON
passed on). A mutation of a dependency (Keras' loss scaling under tf.distribute) is
made by a sitecustomize.py in the copy, which every Python started there imports
first. Prints one JSON line per mutation: caught (the test failed) or missed.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

# (what is broken, file, text, its replacement, the test that must fail)
MUTATIONS = [
    ("class weights dropped on their way into fit",
     "tfbert/train.py", "callbacks=callbacks, **fit_options)", "callbacks=callbacks)",
     "tests/test_class_weight.py::test_balanced_class_weights_reach_keras_fit_and_change_the_step"),
    ("float16 export ignores compute_dtype",
     "tfbert/export/__init__.py", 'policy = COMPUTE_DTYPES[compute_dtype] or "float32"',
     'policy = "float32"', "tests/test_export.py::test_float16_export_keeps_float32_interface"),
    ("tokenizer-table cache key without the TensorFlow version",
     "tfbert/text/unicode_cache.py", '-tf{tf.__version__}.json"', '.json"',
     "tests/test_unicode_cache.py::test_key_changes_with_the_tensorflow_version"),
    ("tokenizer-table cache key without the source hash",
     "tfbert/text/unicode_cache.py", "{hashlib.sha256(source).hexdigest()[:12]}", "x",
     "tests/test_unicode_cache.py::test_key_changes_with_the_source_that_computes_the_table"),
    ("input_mask 1 on padding",
     "tfbert/text/tokenizer.py", '"input_mask": tf.ones_like(input_ids).to_tensor(default_value=0)',
     '"input_mask": tf.ones_like(input_ids).to_tensor(default_value=1)',
     "tests/test_tokenizer_fuzz.py::test_fuzz_parity_with_reference"),
    ("entity offsets taken from the word's first occurrence",
     "tfbert/text/offsets.py", "    return converted",
     "    for i, text in enumerate(texts):\n"
     "        for j, found in enumerate(outputs['entity_text'][i]):\n"
     "            found = found.decode() if isinstance(found, bytes) else str(found)\n"
     "            if found and converted['entity_start'][i][j] >= 0:\n"
     "                converted['entity_start'][i][j] = text.find(found)\n"
     "                converted['entity_end'][i][j] = text.find(found) + len(found)\n"
     "    return converted",
     "tests/test_entity_spans.py::test_offsets_of_an_entity_whose_word_occurs_twice"),
    ("checkpoint writer swaps the query and value kernels",
     "tfbert/models/checkpoint_writer.py",
     "parts = np.split(value, len(names), axis=-1) if",
     "parts = np.split(value, len(names), axis=-1)[::-1] if",
     "tests/test_pretraining_parity.py::test_transformers_outputs_recorded_for_what_tfbert_writes_equal_tfberts"),
    ("the replicas' gradients summed at full scale (doubled on two replicas)",
     "sitecustomize.py", None,
     "import keras.src.losses.loss as loss\nloss.scale_loss_for_distribution = lambda value: value\n",
     "tests/test_distribute.py::test_one_sgd_step_on_two_replicas_equals_one_device"),
    ("the workers' gradients summed at full scale (doubled on two workers)",
     "sitecustomize.py", None,
     "import keras.src.losses.loss as loss\nloss.scale_loss_for_distribution = lambda value: value\n",
     "tests/test_multi_worker.py::test_one_sgd_step_on_two_workers_equals_one_process"),
]


def check(number, name, path, old, new, test):
    with tempfile.TemporaryDirectory(prefix="tfbert-mutation-") as folder:
        work = pathlib.Path(folder)
        subprocess.run(f"git -C {ROOT} archive HEAD | tar -x -C {work}", shell=True, check=True)
        target = work / path
        if old is None:
            target.write_text(new)
        else:
            text = target.read_text()
            if text.count(old) != 1:
                return {"mutation": name, "error": f"{path} no longer holds the mutated text once"}
            target.write_text(text.replace(old, new))
        env = dict(os.environ, PYTHONPATH=str(work))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                               test], cwd=work, env=env, capture_output=True, text=True)
        lines = done.stdout.strip().splitlines() or [""]
        reason = next((line[1:].strip() for line in lines if line.startswith("E ")), "")
        return {"number": number, "mutation": name, "test": test, "caught": done.returncode == 1,
                "pytest": lines[-1], "first_error_line": reason[:300],
                "seconds": round(time.monotonic() - started)}


def main():
    chosen = {int(n) for n in sys.argv[1:]} or set(range(len(MUTATIONS)))
    missed = 0
    for number, mutation in enumerate(MUTATIONS):
        if number in chosen:
            result = check(number, *mutation)
            missed += not result.get("caught")
            print(json.dumps(result), flush=True)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
