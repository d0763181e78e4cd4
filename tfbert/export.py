"""Export a fine-tuned task as a SavedModel that takes raw strings.

    saved_models/<name>/<version>/     the layout TensorFlow Serving watches

The version is written to a temporary directory beside it and renamed into place,
so a server watching `saved_models/<name>` never sees half a model.

The `serving_default` signature takes `text` (and `text_pair` for pair tasks),
tf.string [None], tokenizes in-graph with the model's own tokenizer and returns
float32 outputs: `label`, `label_id`, `probabilities`, `logits` for classifiers,
`score` for regressors.
"""

import os
import pathlib
import re
import shutil
import tempfile

import tensorflow as tf

_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_export_name(name):
    if not _VALID_NAME.match(name or "") or ".." in name:
        raise ValueError(
            f"export name {name!r} must be letters, digits, '.', '_' or '-', start with a "
            "letter or digit, and contain no path separators or '..'."
        )


def next_version(model_dir):
    versions = [int(p.name) for p in pathlib.Path(model_dir).glob("*") if p.name.isdigit()]
    return max(versions, default=0) + 1


class _ServingModule(tf.Module):
    def __init__(self, task):
        super().__init__()
        self.task = task
        self.tokenizer = task.tokenizer
        self.is_classifier = hasattr(task, "label_names")
        if self.is_classifier:
            self.label_names = tf.constant(task.label_names)

    def outputs(self, features):
        # An empty batch has no [CLS] column to pool: answer with empty outputs.
        logits = tf.cond(
            tf.shape(features["input_ids"])[0] > 0,
            lambda: tf.cast(self.task(features, training=False), tf.float32),
            lambda: tf.zeros([0, self.task.num_outputs], tf.float32),
        )
        if not self.is_classifier:
            return {"score": logits[:, 0]}
        if self.task.multi_label:
            probabilities = tf.sigmoid(logits)
            present = probabilities > self.task.threshold
            return {
                "probabilities": probabilities,
                "logits": logits,
                "present": present,
                "label_id": tf.argmax(probabilities, axis=-1, output_type=tf.int32),
                "label": tf.gather(self.label_names, tf.argmax(probabilities, axis=-1)),
            }
        probabilities = tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "label": tf.gather(self.label_names, label_id),
            "label_id": label_id,
            "probabilities": probabilities,
            "logits": logits,
        }


def _serving_function(module, pair):
    text = tf.TensorSpec([None], tf.string, name="text")
    if pair:
        pair_spec = tf.TensorSpec([None], tf.string, name="text_pair")
        return tf.function(
            lambda text, text_pair: module.outputs(module.tokenizer(text, text_pair)),
            input_signature=[text, pair_spec],
        )
    return tf.function(lambda text: module.outputs(module.tokenizer(text)), input_signature=[text])


def export_for_serving(task, base_dir="saved_models", name="model", version=None, overwrite=False):
    """Writes base_dir/name/version/ and returns its path."""
    check_export_name(name)
    model_dir = pathlib.Path(base_dir) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(model_dir) if version is None else int(version)
    if version <= 0:
        raise ValueError(f"version must be a positive integer, got {version}.")
    target = model_dir / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (--overwrite) to replace it.")

    module = _ServingModule(task)
    signatures = {"serving_default": _serving_function(module, task.pair)}
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
