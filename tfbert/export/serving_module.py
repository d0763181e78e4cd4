"""The graph a SavedModel export serves: strings (or token ids) in, labels out.

Signatures (TF Serving calls them by name):

  serving_default  text [, text_pair]  tf.string [None]
  predict_ids      input_ids, segment_ids, input_mask  int32 [None, None]
      classifiers -> label      string  [None]    the best label (multi-label: every
                                                  label over the threshold, joined
                                                  with the label separator)
                     label_id   int32   [None]    its index (multi-label: the best)
                     probabilities float32 [None, C]
                     logits     float32 [None, C]
                     over_threshold bool [None, C]  (multi-label only)
      regressors  -> score      float32 [None]
  classify  (classifiers)  inputs: serialized tf.Example with bytes features
                           "text" [, "text_pair"] -> classes string [None, C],
                           scores float32 [None, C]      (TF Serving's Classify API)
  regress   (regressors)   inputs: serialized tf.Example -> outputs float32 [None]
                                                         (TF Serving's Regress API)

The vocabulary and the label names are SavedModel assets (assets/vocab.txt,
assets/labels.txt); the label names the graph returns are read from the asset by a
lookup table, so the file and the answers cannot disagree.
"""

import tensorflow as tf

from tfbert.export.length_sorted import logits_sorted_by_length

# Method names TF Serving checks before it runs a Classify or Regress request.
CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"


class ServingModule(tf.Module):
    """Wraps a fine-tuned task (a `TextClassifier` or `TextRegressor`).

    vocabulary_file / labels_file: paths of the files to ship as assets (the labels
    file holds one label name a line, in output order; None for regressors).
    chunk_size: rows per length-sorted chunk (see length_sorted.py); None runs each
    request as one batch padded to its longest row.
    """

    def __init__(self, task, vocabulary_file, labels_file=None, chunk_size=16):
        super().__init__()
        self.task = task
        self.chunk_size = chunk_size
        # Keras 3 variables wrap tf.Variables that tf.Module does not find on its own:
        # without tracking them here the checkpoint restores other copies, and a server
        # loading the graph the TF1 way (as TF Serving does) finds them uninitialised.
        self.variable_values = [variable.value for variable in task.variables]
        self.tokenizer = task.tokenizer
        self.pair = task.pair
        self.is_classifier = labels_file is not None
        self.vocabulary_file = tf.saved_model.Asset(str(vocabulary_file))
        if self.is_classifier:
            self.num_labels = len(task.label_names)
            self.multi_label = task.multi_label
            self.label_separator = task.label_separator
            self.threshold = task.threshold
            self.labels_file = tf.saved_model.Asset(str(labels_file))
            self.label_table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    self.labels_file, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                    tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                ),
                default_value="",
            )
        else:
            self.min_score, self.max_score = task.min_score, task.max_score

    # ------------------------------------------------------------------ math

    def logits(self, features):
        """Token features -> float32 [B, outputs]."""
        def model_logits(batch):
            return tf.cast(self.task(batch, training=False), tf.float32)

        def request_logits():
            if self.chunk_size is None:
                return model_logits(features)
            return logits_sorted_by_length(model_logits, features, self.task.num_outputs,
                                           self.chunk_size)

        # An empty batch has no [CLS] column to pool: answer with empty outputs.
        return tf.cond(
            tf.shape(features["input_ids"])[0] > 0,
            request_logits,
            lambda: tf.zeros([0, self.task.num_outputs], tf.float32),
        )

    def label_names(self):
        return self.label_table.lookup(tf.range(self.num_labels, dtype=tf.int64))  # [C]

    def outputs(self, features):
        logits = self.logits(features)
        if not self.is_classifier:
            score = logits[:, 0]
            if self.min_score is not None or self.max_score is not None:
                low = -float("inf") if self.min_score is None else float(self.min_score)
                high = float("inf") if self.max_score is None else float(self.max_score)
                score = tf.clip_by_value(score, low, high)
            return {"score": score}
        names = self.label_names()
        if not self.multi_label:
            probabilities = tf.nn.softmax(logits, axis=-1)
            label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return {"label": tf.gather(names, label_id), "label_id": label_id,
                    "probabilities": probabilities, "logits": logits}
        probabilities = tf.sigmoid(logits)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        over_threshold = probabilities > self.threshold
        # As `TextClassifier.predict`: with no label over the threshold, the best one.
        chosen = over_threshold | (tf.one_hot(label_id, self.num_labels, on_value=True,
                                              off_value=False)
                                   & ~tf.reduce_any(over_threshold, axis=-1, keepdims=True))
        names_per_row = tf.ragged.boolean_mask(
            tf.broadcast_to(names, tf.shape(probabilities)), chosen)
        label = tf.strings.reduce_join(names_per_row, axis=-1, separator=self.label_separator)
        return {"label": label, "label_id": label_id, "probabilities": probabilities,
                "logits": logits, "over_threshold": over_threshold}

    def parse_examples(self, serialized):
        """Serialized tf.Examples -> (texts, text_pairs or None)."""
        spec = {"text": tf.io.FixedLenFeature([], tf.string)}
        if self.pair:
            spec["text_pair"] = tf.io.FixedLenFeature([], tf.string)
        features = tf.io.parse_example(serialized, spec)
        return features["text"], features.get("text_pair")

    # ------------------------------------------------------------ signatures

    def signatures(self):
        """{name: concrete function} for `tf.saved_model.save`."""
        text = tf.TensorSpec([None], tf.string, name="text")
        text_pair = tf.TensorSpec([None], tf.string, name="text_pair")
        ids = [tf.TensorSpec([None, None], tf.int32, name=name)
               for name in ("input_ids", "segment_ids", "input_mask")]
        examples = tf.TensorSpec([None], tf.string, name="inputs")

        if self.pair:
            serve = tf.function(lambda text, text_pair: self.outputs(self.tokenizer(text, text_pair)))
            signatures = {"serving_default": serve.get_concrete_function(text, text_pair)}
        else:
            serve = tf.function(lambda text: self.outputs(self.tokenizer(text)))
            signatures = {"serving_default": serve.get_concrete_function(text)}

        predict_ids = tf.function(lambda input_ids, segment_ids, input_mask: self.outputs(
            {"input_ids": input_ids, "segment_ids": segment_ids, "input_mask": input_mask}))
        signatures["predict_ids"] = predict_ids.get_concrete_function(*ids)

        if self.is_classifier:
            signatures["classify"] = tf.function(self.classify).get_concrete_function(examples)
        else:
            signatures["regress"] = tf.function(self.regress).get_concrete_function(examples)
        return signatures

    def classify(self, inputs):
        texts, pairs = self.parse_examples(inputs)
        probabilities = self.outputs(self.tokenizer(texts, pairs))["probabilities"]
        classes = tf.broadcast_to(self.label_names(), tf.shape(probabilities))
        return {"classes": classes, "scores": probabilities}

    def regress(self, inputs):
        texts, pairs = self.parse_examples(inputs)
        return {"outputs": self.outputs(self.tokenizer(texts, pairs))["score"]}
