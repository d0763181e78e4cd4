"""The graph a SavedModel export serves: strings (or token ids) in, the task's outputs out.

Signatures (TF Serving calls them by name), the same for every task kind:

  serving_default  text [, text_pair]  tf.string [None]
  predict_ids      the task's `id_inputs` (input_ids, segment_ids, input_mask; a
                   tagger adds word_starts, word_mask)  int32 [None, None]
      -> the task's named outputs (`Task.named_outputs`, the very function in-process
         `predict` calls; each task module lists them)
  classify / regress, when the task has one (`Postprocessor.example_signature`): inputs,
      serialized tf.Examples with bytes features "text" [, "text_pair"], as TF
      Serving's Classify / Regress APIs send them.
  and the task's `extra_signatures` (a tagger's predict_words).
  explain (with `explain_steps`)  text [, text_pair]  tf.string [None]
      -> serving_default's outputs and, per word of each text (then of its pair),
         integrated gradients of the answer (tfbert/inference/attributions.py; the
         baseline [PAD]): word (tf.string), word_begin / word_end (int64 UTF-8 byte
         offsets into its text), word_text (int32: 0 the text, 1 the pair),
         word_attribution (float32, NaN for a word past max_length) [B, W], padded to
         the row with most words (word "", offsets and word_text -1, attribution NaN);
         output, baseline_output float32 [B]: the explained probability (of the most
         probable label) or score, and its value at the baseline.

Every signature runs the model through the inference engine (`tfbert.inference`):
rows sorted by length, chunks of `chunk_size` rows; with `jit_compile`, one-row
chunks run XLA-compiled at a few bucketed lengths.

The vocabulary and the task's own files (a classifier's label names) are SavedModel
assets; the graph reads the task's files through lookup tables, so the files and
the answers cannot disagree.
"""

import types

import tensorflow as tf

from tfbert.inference.attributions import word_attributions
from tfbert.inference.xla_buckets import length_buckets, run_single_rows_compiled


class ServingModule(tf.Module):
    """Wraps a task for serving.

    asset_files: {file name: path} of the files to ship as assets: "vocab.txt" and
    each file of `task.postprocessor.export_assets()`.
    chunk_size: rows per length-sorted chunk (tfbert/inference/engine.py); None runs each
    request as one batch padded to its longest row.
    jit_compile: run one-row chunks XLA-compiled, padded to a length bucket (see
    xla_buckets.py).
    explain_steps: serve an `explain` signature, integrated gradients over this many
    points; None: none.
    """

    def __init__(self, task, asset_files, chunk_size=16, jit_compile=False, explain_steps=None):
        super().__init__()
        self.explain_steps = explain_steps
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
        for name, lines in task.postprocessor.export_assets().items():
            self.asset_tables[name] = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    tf.saved_model.Asset(str(asset_files[name])), tf.int64,
                    tf.lookup.TextFileIndex.LINE_NUMBER, tf.string,
                    tf.lookup.TextFileIndex.WHOLE_LINE),
                default_value="")
            self.asset_sizes[name] = len(lines)
        self.method_names = {}
        self.jit_compile = bool(jit_compile)
        # A task that packs other than its tokenizer does (long texts: a window axis)
        # has inputs the one-row length buckets do not describe.
        if self.jit_compile and task.packer is not task.tokenizer:
            raise ValueError('an XLA export (export.xla = true) of a long_text = "windows" task '
                             "is not supported yet: export it without XLA.")
        if self.jit_compile:
            self.max_positions = task.encoder.bert_config.max_position_embeddings
            self.length_buckets = length_buckets(min(task.tokenizer.max_length,
                                                     self.max_positions))
            self.compiled_infer = tf.function(task.infer, jit_compile=True, autograph=False)

    @property
    def task(self):
        return self._untracked.task

    # ------------------------------------------------------------------ math

    def infer(self, features):
        """One chunk's token features -> the task's `infer` outputs; a one-row chunk
        XLA-compiled at a bucketed length when the export asks for it."""
        if not self.jit_compile:
            return self.task.infer(features)
        # XLA drops asserts: the embeddings' check of the length is made here.
        tf.debugging.assert_less_equal(
            tf.shape(features["input_ids"])[1], self.max_positions,
            message=f"sequence longer than max_position_embeddings={self.max_positions}; "
            "truncate the input (the tokenizer's max_length does this)")
        return run_single_rows_compiled(self.compiled_infer, self.task.infer, features,
                                        self.length_buckets)

    def compiled_lengths(self):
        """The length buckets an XLA export compiles for (one row each); None without XLA."""
        return self.length_buckets if self.jit_compile else None

    def assets(self):
        """{file name: its lines, tf.string [lines]} read from the shipped assets."""
        return {name: table.lookup(tf.range(self.asset_sizes[name], dtype=tf.int64))
                for name, table in self.asset_tables.items()}

    def text_outputs(self, texts, pairs=None):
        return self.task.named_outputs(texts, pairs, self.assets(), self.infer, self.chunk_size)

    def parse_examples(self, serialized):
        """Serialized tf.Examples -> (texts, text_pairs or None)."""
        spec = {"text": tf.io.FixedLenFeature([], tf.string)}
        if self.pair:
            spec["text_pair"] = tf.io.FixedLenFeature([], tf.string)
        features = tf.io.parse_example(serialized, spec)
        return features["text"], features.get("text_pair")

    def explain(self, texts, pairs=None):
        """serving_default's answers and each word's attribution (the module docstring)."""
        answers = self.text_outputs(texts, pairs)
        targets = (tf.argmax(answers["probabilities"], axis=-1, output_type=tf.int32)
                   if "probabilities" in answers else None)
        found = word_attributions(self.task, texts, pairs, targets, self.explain_steps)
        padding = {"word": "", "word_begin": -1, "word_end": -1, "word_text": -1,
                   "word_attribution": float("nan")}
        return {**answers, **{key: value.to_tensor(default_value=padding[key]) if key in padding
                              else value for key, value in found.items()}}

    # ------------------------------------------------------------ signatures

    def signatures(self):
        """{name: concrete function} for `tf.saved_model.save`; sets `method_names`
        for the signatures TF Serving must know as Classify/Regress."""
        text = tf.TensorSpec([None], tf.string, name="text")
        text_pair = tf.TensorSpec([None], tf.string, name="text_pair")
        if self.pair:
            serve = tf.function(lambda text, text_pair: self.text_outputs(text, text_pair),
                                autograph=False)
            signatures = {"serving_default": serve.get_concrete_function(text, text_pair)}
        else:
            serve = tf.function(lambda text: self.text_outputs(text), autograph=False)
            signatures = {"serving_default": serve.get_concrete_function(text)}

        names = self.task.id_inputs()
        predict_ids = tf.function(lambda *ids: self.task.named_outputs_of_ids(
            dict(zip(names, ids)), self.assets(), self.infer, self.chunk_size), autograph=False)
        signatures["predict_ids"] = predict_ids.get_concrete_function(
            *[tf.TensorSpec([None, None], tf.int32, name=name) for name in names])

        example_api = self.task.postprocessor.example_signature()
        if example_api is not None:
            name, method_name, select = example_api

            def from_examples(inputs):
                return select(self.text_outputs(*self.parse_examples(inputs)), self.assets())

            signatures[name] = tf.function(from_examples, autograph=False).get_concrete_function(
                tf.TensorSpec([None], tf.string, name="inputs"))
            self.method_names[name] = method_name
        if self.explain_steps is not None:
            if self.pair:
                explain = tf.function(lambda text, text_pair: self.explain(text, text_pair),
                                      autograph=False)
                signatures["explain"] = explain.get_concrete_function(text, text_pair)
            else:
                explain = tf.function(lambda text: self.explain(text), autograph=False)
                signatures["explain"] = explain.get_concrete_function(text)
        extra = self.task.extra_signatures(self.assets, self.infer, self.chunk_size)
        for name, (function, specs) in extra.items():
            signatures[name] = tf.function(function, autograph=False).get_concrete_function(*specs)
        return signatures
