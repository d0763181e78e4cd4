"""What every text task shares: encoder + head, and fit/evaluate/predict on raw strings.

A task is a normal `keras.Model` whose `call` takes BERT's token inputs (a dict of
input_ids, segment_ids, input_mask). Its `fit`, `evaluate` and `predict` also accept
raw text, keras-hub style: the texts are tokenized in-graph by the model's own
`BertTokenizer` and batched by length (see `tfbert.data.pipeline`), and everything
else is Keras' own loop. A `tf.data.Dataset` of (features, targets) passes straight
through to Keras.

Raw inputs are a sequence of strings, or for pair tasks a pair of sequences
`(texts, text_pairs)` (or a dict with keys "text" and "text_pair").
"""

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.pipeline import make_dataset, plan_batches, tokenize_texts
from tfbert.encoder import BertEncoder
from tfbert.layers.attention_pooling_head import AttentionPoolingHead
from tfbert.layers.cls_head import ClsPoolingHead
from tfbert.tokenizer import BertTokenizer

HEADS = {"cls": ClsPoolingHead, "attention": AttentionPoolingHead}


class TextTask(keras.Model):
    """Base class: `encoder` -> `head` -> float32 outputs [batch, num_outputs]."""

    def __init__(self, encoder, tokenizer, num_outputs, head="cls", pair=False, dropout=0.1, **kwargs):
        if head not in HEADS:
            raise ValueError(f"head {head!r} is not one of: {', '.join(HEADS)}.")
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        if isinstance(tokenizer, dict):
            tokenizer = BertTokenizer.from_config(tokenizer)
        if not isinstance(encoder, BertEncoder):
            raise TypeError(f"encoder must be a tfbert.BertEncoder, got {type(encoder).__name__}.")
        if encoder.pooled_only and head != "cls":
            # Such an encoder returns only the [CLS] position: any other head would
            # quietly pool over one token.
            raise ValueError(f"head {head!r} reads every token, but the encoder was built "
                             "with pooled_only=True (only [CLS]); use head='cls' or an "
                             "encoder with pooled_only=False.")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.pair = pair
        self.head_type = head
        self.dropout = dropout
        self.num_outputs = num_outputs
        self.head = HEADS[head](num_outputs, dropout=dropout, dtype=encoder.dtype_policy, name="head")
        # Create every variable now, so that saving, loading and checkpoint restore
        # never meet a half-built model.
        self.build_from_tokens()

    def call(self, inputs, training=None):
        encoder_outputs = self.encoder(inputs, training=training)
        return self.head(encoder_outputs, inputs["input_mask"], training=training)

    def build_from_tokens(self):
        """Creates every variable by running one tiny batch."""
        self(self.tokenizer(["a"], ["b"] if self.pair else None))
        self.built = True

    # ------------------------------------------------------------ raw text in

    def split_text_inputs(self, x):
        """-> (texts, text_pairs or None) as lists of str, checked against the task."""
        if isinstance(x, dict):
            unknown = set(x) - {"text", "text_pair"}
            if unknown or "text" not in x:
                raise ValueError(
                    f"text inputs as a dict need the key 'text' (and 'text_pair' for pair "
                    f"tasks); got keys {sorted(x)}."
                )
            texts, pairs = x["text"], x.get("text_pair")
        elif self.pair and isinstance(x, tuple) and len(x) == 2:
            texts, pairs = x
        else:
            texts, pairs = x, None
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        texts = [str(t) for t in texts]
        if self.pair and pairs is None:
            raise ValueError(
                "this is a text-pair task: pass (texts, text_pairs) or "
                "{'text': ..., 'text_pair': ...}."
            )
        if not self.pair and pairs is not None:
            raise ValueError("this task takes single texts; got text pairs.")
        if pairs is not None:
            pairs = [str(t) for t in pairs]
            if len(pairs) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(pairs)} text pairs.")
        return texts, pairs

    def tokenize_inputs(self, x):
        """Raw inputs -> (first_ids, second_ids or None, packed length of each example)."""
        texts, pairs = self.split_text_inputs(x)
        first = tokenize_texts(self.tokenizer, texts)
        second = None if pairs is None else tokenize_texts(self.tokenizer, pairs)
        special = 2 if second is None else 3
        lengths = first.row_lengths().numpy() + special
        if second is not None:
            lengths = lengths + second.row_lengths().numpy()
        return first, second, np.minimum(lengths, self.tokenizer.max_length)

    def text_dataset(self, x, y=None, batch_size=32, shuffle=False, seed=0, epochs=1):
        """A length-bucketed dataset of raw inputs; returns (dataset, steps per epoch, batches)."""
        first, second, lengths = self.tokenize_inputs(x)
        targets = None if y is None else self.encode_targets(y)
        if targets is not None and len(targets) != len(lengths):
            raise ValueError(f"{len(lengths)} inputs but {len(targets)} targets.")
        batches = []
        for epoch in range(epochs):
            batches += plan_batches(lengths, batch_size, shuffle=shuffle, seed=seed, epoch=epoch)
        steps = len(batches) // epochs
        return make_dataset(self.tokenizer, first, second, targets, batches), steps, batches

    def is_raw_text(self, x):
        return not isinstance(x, (tf.data.Dataset, dict)) or (
            isinstance(x, dict) and "text" in x
        )

    def fit(self, x=None, y=None, batch_size=32, epochs=1, validation_data=None,
            shuffle=True, seed=0, **kwargs):
        if not self.is_raw_text(x):
            return super().fit(x, y, batch_size=None if isinstance(x, tf.data.Dataset) else batch_size,
                               epochs=epochs, validation_data=validation_data, shuffle=shuffle, **kwargs)
        dataset, steps, _ = self.text_dataset(x, y, batch_size, shuffle=shuffle, seed=seed, epochs=epochs)
        if validation_data is not None and not isinstance(validation_data, tf.data.Dataset):
            validation_data, _, _ = self.text_dataset(*validation_data, batch_size=batch_size)
        # shuffle=False: the batch plan is already shuffled, per epoch and seed.
        return super().fit(dataset, epochs=epochs, steps_per_epoch=steps, shuffle=False,
                           validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=32, **kwargs):
        if not self.is_raw_text(x):
            return super().evaluate(x, y, **kwargs)
        dataset, _, _ = self.text_dataset(x, y, batch_size)
        return super().evaluate(dataset, **kwargs)

    def predict_outputs(self, x, batch_size=32, **kwargs):
        """Raw inputs -> the model's float32 outputs, in input order."""
        dataset, _, batches = self.text_dataset(x, batch_size=batch_size)
        if not batches:
            return np.zeros((0, self.num_outputs), np.float32)
        kwargs.setdefault("verbose", 0)
        outputs = super().predict(dataset, **kwargs)
        order = np.concatenate(batches)
        restored = np.empty_like(outputs)
        restored[order] = outputs
        return restored

    def export_for_serving(self, base_dir="saved_models", name="model", **kwargs):
        """A SavedModel for TF Serving at base_dir/name/<version>/; see `tfbert.export`."""
        from tfbert.export import export_for_serving  # the export imports the tasks' classes

        return export_for_serving(self, base_dir, name, **kwargs)

    # ---------------------------------------------------------- serialization

    def get_compile_config(self):
        # A loaded task is compiled again by its user (compile() has task defaults);
        # restoring a compiled state with a custom compile() is not supported by Keras.
        return None

    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "tokenizer": self.tokenizer.get_config(),
            "head": self.head_type,
            "pair": self.pair,
            "dropout": self.dropout,
        }
