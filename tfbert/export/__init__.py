"""Export a fine-tuned task as a SavedModel for TensorFlow Serving.

    saved_models/<name>/<version>/     the layout TF Serving watches
      saved_model.pb, variables/       signatures: see serving_module.py
      assets/vocab.txt, ...            the tokenizer's vocabulary, and the task's own
                                       files (a classifier's labels.txt)
      assets.extra/tf_serving_warmup_requests
      assets.extra/tfbert_task.json    the task kind and config: `tfbert predict` and the
                                       Beam pipeline read an export with no run beside it
    saved_models/models.config, batching_parameters.txt, docker-compose.yml, serve.sh

A version is written to a temporary directory beside it and renamed into place, so
a server watching `saved_models/<name>` never sees half a model. An export killed
midway (kill -9, a lost machine) leaves only its hidden `.<version>.tmp-*` directory,
which TF Serving ignores (it loads all-digit names) and the next export removes.
"""

import contextlib
import fcntl
import os
import pathlib
import re
import shutil
import tempfile

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfbert.export.deployment import write_deployment_files, write_warmup_requests
from tfbert.export.serving_module import ServingModule
from tfbert.inference.engine import check_chunk_size
from tfbert.io.names import SAFE_NAME_RULE, is_safe_name
from tfbert.serving.exports import write_task_description

_STAGING = re.compile(r"^\.\d+\.tmp-")  # the staging directories' names (tempfile prefix)
COMPUTE_DTYPES = {"float32": None, "float16": "mixed_float16", "bfloat16": "bfloat16"}


def check_export_name(name):
    if not is_safe_name(name):
        raise ValueError(f"export name {name!r} {SAFE_NAME_RULE}.")


@contextlib.contextmanager
def _export_lock(base_dir):
    """Holds an exclusive lock on base_dir while an export writes into it. The kernel
    drops the lock when its process ends, however it ends: a staging directory found
    while holding it was left by an export that died, never by one still running."""
    descriptor = os.open(base_dir, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _remove_stale_staging(model_dir):
    """Removes what dead exports of this model left: `.<version>.tmp-*` directories."""
    for path in pathlib.Path(model_dir).iterdir():
        if _STAGING.match(path.name) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def next_version(model_dir):
    versions = [int(p.name) for p in pathlib.Path(model_dir).glob("*") if p.name.isdigit()]
    return max(versions, default=0) + 1


def serving_copy(task, compute_dtype):
    """The same task (same weights) computing in `compute_dtype`, built for serving;
    inputs and outputs stay float32. float16 is for GPU serving; bfloat16 for CPUs
    with bf16 units."""
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype {compute_dtype!r} is not one of: "
                         f"{', '.join(COMPUTE_DTYPES)}.")
    policy = COMPUTE_DTYPES[compute_dtype] or "float32"
    # A head that reads only the pooled output: the served encoder computes only the
    # [CLS] position in its last block (BertEncoder's pooled_only).
    encoder = type(task.encoder).from_config(
        {**task.encoder.get_config(), "dtype": policy,
         "pooled_only": task.reads_only_pooled_output})
    clone = type(task).from_config({**task.get_config(), "encoder": encoder, "dtype": policy})
    clone.set_weights(task.get_weights())
    return clone


def _write_assets(task, folder):
    """vocab.txt and the task's own files in folder; returns {file name: path}."""
    files = {"vocab.txt": task.tokenizer.vocabulary, **task.postprocessor.export_assets()}
    paths = {}
    for name, lines in files.items():
        paths[name] = pathlib.Path(folder) / name
        paths[name].write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return paths


def _set_method_names(saved_model_dir, method_names):
    """TF Serving runs Classify/Regress only on signatures with those method names;
    tf.saved_model.save marks every signature as Predict, so mark them here."""
    path = pathlib.Path(saved_model_dir) / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        for name, method_name in method_names.items():
            meta_graph.signature_def[name].method_name = method_name
    path.write_bytes(saved_model.SerializeToString())


def export_for_serving(task, base_dir="saved_models", name="model", version=None,
                       overwrite=False, compute_dtype="float32", deployment_files=True,
                       chunk_size=16, jit_compile=False, explain_steps=None):
    """Writes base_dir/name/version/ (and the server files in base_dir); returns its path.

    version: the next free number by default. An existing version is an error
    unless overwrite=True. compute_dtype: "float32", "float16" (GPU) or "bfloat16".
    chunk_size: the serving graph sorts each request by length and runs it in chunks
    of this many rows, each padded to its own longest (None: one padded batch).
    jit_compile: one-row chunks run XLA-compiled, padded to a few bucketed lengths
    (xla_buckets.py): faster single-sentence requests on CPU; TF Serving then needs
    `--xla_cpu_compilation_enabled=true` (the deployment files pass it).
    explain_steps: also serve an `explain` signature (each word's attribution by
    integrated gradients over this many points; serving_module.py); None: not.
    """
    check_chunk_size(chunk_size)  # before the export's slow work
    if explain_steps is not None and (isinstance(explain_steps, bool) or not isinstance(explain_steps, int)
                                      or explain_steps < 1):
        raise ValueError(f"explain_steps must be a positive integer or None, got {explain_steps!r}.")
    check_export_name(name)
    model_dir = pathlib.Path(base_dir) / name
    version = next_version(model_dir) if version is None else int(version)
    if version <= 0:
        raise ValueError(f"version must be a positive integer, got {version}.")
    target = model_dir / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (--overwrite) to replace it.")
    served = serving_copy(task, compute_dtype)

    model_dir.mkdir(parents=True, exist_ok=True)
    with _export_lock(base_dir):
        _remove_stale_staging(model_dir)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
        retired = staging.with_name(staging.name + "-old")  # a staging name: removed if left
        try:
            with tempfile.TemporaryDirectory() as asset_folder:
                module = ServingModule(served, _write_assets(served, asset_folder),
                                       chunk_size=chunk_size, jit_compile=jit_compile,
                                       explain_steps=explain_steps)
                tf.saved_model.save(module, str(staging), signatures=module.signatures())
            _set_method_names(staging, module.method_names)
            write_task_description(staging, task.task_name, task.plain_config())
            write_warmup_requests(staging, name, task.pair, module.compiled_lengths())
            if target.exists():
                # Renamed aside whole and deleted after: deleting it in place, a kill
                # would leave half of the old version under its number.
                os.replace(target, retired)
            os.replace(staging, target)
        finally:
            for leftover in (staging, retired):
                if leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)
        if deployment_files:
            write_deployment_files(base_dir)
    return target
