"""The graph a SavedModel export serves: strings (or token ids) in, the task's outputs out.

Signatures (TF Serving calls them by name):

  serving_default  text [, text_pair]  tf.string [None]
  predict_ids      input_ids, segment_ids, input_mask  int32 [None, None]
      -> the task's named outputs (its `postprocess`, the same function in-process
         `predict` calls; each task module lists them)
  classify / regress, when the task has one (`Task.example_signature`): inputs,
      serialized tf.Examples with bytes features "text" [, "text_pair"], as TF
      Serving's Classify / Regress APIs send them.

The vocabulary and the task's own files (a classifier's label names) are SavedModel
assets; the graph reads the task's files through lookup tables, so the files and
the answers cannot disagree.
"""

import types

import tensorflow as tf

from tfbert.export.length_sorted import outputs_sorted_by_length
from tfbert.export.xla_buckets import length_buckets, run_single_rows_compiled


class ServingModule(tf.Module):
    """Wraps a task for serving.

    asset_files: {file name: path} of the files to ship as assets: "vocab.txt" and
    each file of `task.export_assets()`.
    chunk_size: rows per length-sorted chunk (see length_sorted.py); None runs each
    request as one batch padded to its longest row.
    jit_compile: run one-row chunks XLA-compiled, padded to a length bucket (see
    xla_buckets.py).
    """

    def __init__(self, task, asset_files, chunk_size=16, jit_compile=False):
        super().__init__()
        if jit_compile and task.serves_own_signatures():
            raise ValueError(f"jit_compile=True is not supported for a {type(task).__name__} "
                             "export (it serves its own signatures); export it with "
                             "jit_compile=False.")
        # The task is held by a plain object that tf.Module does not track: tracked,
        # tf.saved_model.save would also save its Keras objects and trace Keras' own
        # default signature for it (a whole extra trace, with float32 inputs that warn).
        # What the export needs of it is tracked below: its variables and tokenizer.
        self._untracked = types.SimpleNamespace(task=task)
        self.chunk_size = chunk_size
        # Keras 3 variables wrap tf.Variables that tf.Module does not find on its own:
        # without tracking them here the checkpoint restores other copies, and a server
        # loading the graph the TF1 way (as TF Serving does) finds them uninitialised.
        self.variable_values = [variable.value for variable in task.variables]
        self.tokenizer = task.tokenizer
        self.pair = task.pair
        self.vocabulary_file = tf.saved_model.Asset(str(asset_files["vocab.txt"]))
        self.asset_tables = {}
        self.asset_sizes = {}
        for name, lines in task.export_assets().items():
            self.asset_tables[name] = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    tf.saved_model.Asset(str(asset_files[name])), tf.int64,
                    tf.lookup.TextFileIndex.LINE_NUMBER, tf.string,
                    tf.lookup.TextFileIndex.WHOLE_LINE),
                default_value="")
            self.asset_sizes[name] = len(lines)
        # The shape of one row of each model output: the chunks are stitched back
        # and an empty request is answered with empty outputs of these shapes.
        example = task(task.tiny_batch(), training=False)
        self.row_shapes = tf.nest.map_structure(lambda t: t.shape[1:], example)
        self.method_names = {}
        self.jit_compile = bool(jit_compile)
        if self.jit_compile:
            self.max_positions = task.encoder.bert_config.max_position_embeddings
            self.length_buckets = length_buckets(min(task.tokenizer.max_length,
                                                     self.max_positions))
            self.compiled_model = tf.function(self.model_in_float32, jit_compile=True)

    @property
    def task(self):
        return self._untracked.task

    # ------------------------------------------------------------------ math

    def model_in_float32(self, batch):
        return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32),
                                     self.task(batch, training=False))

    def model_outputs(self, features):
        """Token features -> the model's outputs in float32, rows in request order."""
        def run(batch):
            if self.jit_compile:
                # XLA drops asserts: the embeddings' check of the length is made here.
                tf.debugging.assert_less_equal(
                    tf.shape(batch["input_ids"])[1], self.max_positions,
                    message=f"sequence longer than max_position_embeddings="
                    f"{self.max_positions}; truncate the input (the tokenizer's "
                    "max_length does this)")
                return run_single_rows_compiled(self.compiled_model, self.model_in_float32,
                                                batch, self.length_buckets)
            return self.model_in_float32(batch)

        def request_outputs():
            if self.chunk_size is None:
                return run(features)
            return outputs_sorted_by_length(run, features, self.row_shapes, self.chunk_size)

        # An empty batch has no [CLS] column to pool: answer with empty outputs.
        return tf.cond(
            tf.shape(features["input_ids"])[0] > 0,
            request_outputs,
            lambda: tf.nest.map_structure(lambda shape: tf.zeros([0, *shape], tf.float32),
                                          self.row_shapes),
        )

    def compiled_lengths(self):
        """The length buckets an XLA export compiles for (one row each); None without XLA."""
        return self.length_buckets if self.jit_compile else None

    def assets(self):
        """{file name: its lines, tf.string [lines]} read from the shipped assets."""
        return {name: table.lookup(tf.range(self.asset_sizes[name], dtype=tf.int64))
                for name, table in self.asset_tables.items()}

    def outputs(self, features):
        return self.task.postprocess(self.model_outputs(features), self.assets())

    def parse_examples(self, serialized):
        """Serialized tf.Examples -> (texts, text_pairs or None)."""
        spec = {"text": tf.io.FixedLenFeature([], tf.string)}
        if self.pair:
            spec["text_pair"] = tf.io.FixedLenFeature([], tf.string)
        features = tf.io.parse_example(serialized, spec)
        return features["text"], features.get("text_pair")

    # ------------------------------------------------------------ signatures

    def signatures(self):
        """{name: concrete function} for `tf.saved_model.save`; sets `method_names`
        for the signatures TF Serving must know as Classify/Regress."""
        custom = self.task.serving_functions(self.assets)
        if custom is not None:  # a task that serves other inputs or outputs (tagging)
            return {name: tf.function(function).get_concrete_function(*specs)
                    for name, (function, specs) in custom.items()}
        text = tf.TensorSpec([None], tf.string, name="text")
        text_pair = tf.TensorSpec([None], tf.string, name="text_pair")
        ids = [tf.TensorSpec([None, None], tf.int32, name=name)
               for name in ("input_ids", "segment_ids", "input_mask")]

        if self.pair:
            serve = tf.function(lambda text, text_pair: self.outputs(self.tokenizer(text, text_pair)))
            signatures = {"serving_default": serve.get_concrete_function(text, text_pair)}
        else:
            serve = tf.function(lambda text: self.outputs(self.tokenizer(text)))
            signatures = {"serving_default": serve.get_concrete_function(text)}

        predict_ids = tf.function(lambda input_ids, segment_ids, input_mask: self.outputs(
            {"input_ids": input_ids, "segment_ids": segment_ids, "input_mask": input_mask}))
        signatures["predict_ids"] = predict_ids.get_concrete_function(*ids)

        example_api = self.task.example_signature()
        if example_api is not None:
            name, method_name, select = example_api

            def from_examples(inputs):
                texts, pairs = self.parse_examples(inputs)
                return select(self.outputs(self.tokenizer(texts, pairs)), self.assets())

            signatures[name] = tf.function(from_examples).get_concrete_function(
                tf.TensorSpec([None], tf.string, name="inputs"))
            self.method_names[name] = method_name
        return signatures
