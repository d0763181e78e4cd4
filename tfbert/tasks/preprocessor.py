"""`Preprocessor`: a task's examples -> what Keras fits on, `(x, y[, sample_weight])`.

    raw inputs (texts, pairs, labels; or examples read from a file)
      -> as_examples      checked against the task (pairs or single texts)
      -> encode_targets   labels -> numpy targets (ids, scores, tags), in Python: an
                          unknown label names its file and line
      -> tokenize         TokenizedExamples: token pieces + targets, batched by length
                          (tfbert.data.pipeline)
      -> preprocess       in the tf.data graph: a batch's features and targets -> Keras'
                          (x, y[, sample_weight])

A task builds its preprocessor from its packer (`Task.packer`: the tokenizer, or a
long-text task's windows, which tokenize alike and pack with a window axis) and its
plain config (`Task.preprocessor`), so the preprocessor knows what the task knows
(label names, a tagger's scheme) and nothing of the Keras model.
"""

import numpy as np

from tfbert.data.pipeline import TokenizedExamples, tokenize_examples
from tfbert.data.readers import TextExamples


class Preprocessor:
    """Texts (or text pairs) with no targets: the base of every text task's preprocessor."""

    def __init__(self, tokenizer, config):
        self.tokenizer = tokenizer
        self.config = config
        self.pair = bool(config.get("pair", False))

    def as_examples(self, x, y=None):
        """Raw inputs (and labels) -> TextExamples, checked against the task."""
        if isinstance(x, TextExamples):
            if y is not None:
                raise ValueError("TextExamples carry their own labels; pass y=None.")
            if self.pair != (x.text_pairs is not None):
                raise ValueError(f"{x.source}: this task takes "
                                 f"{'text pairs' if self.pair else 'single texts'}; the "
                                 f"examples have {'pairs' if x.text_pairs is not None else 'single texts'}.")
            return x
        if isinstance(x, dict):
            unknown = set(x) - {"text", "text_pair"}
            if unknown or "text" not in x:
                raise ValueError(f"text inputs as a dict need the key 'text' (and 'text_pair' "
                                 f"for pair tasks); got keys {sorted(x)}.")
            texts, pairs = x["text"], x.get("text_pair")
        elif self.pair and isinstance(x, tuple) and len(x) == 2:
            texts, pairs = x
        else:
            texts, pairs = x, None
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        texts = [str(t) for t in texts]
        if self.pair and pairs is None:
            raise ValueError("this is a text-pair task: pass (texts, text_pairs) or "
                             "{'text': ..., 'text_pair': ...}.")
        if not self.pair and pairs is not None:
            raise ValueError("this task takes single texts; got text pairs.")
        if pairs is not None:
            pairs = [str(t) for t in pairs]
            if len(pairs) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(pairs)} text pairs.")
        labels = None
        if y is not None:
            labels = self.raw_labels(y)
            if len(labels) != len(texts):
                raise ValueError(f"{len(texts)} inputs but {len(labels)} targets.")
        return TextExamples.given(texts, pairs, labels)

    def raw_labels(self, labels):
        """Labels passed in Python -> raw label strings, as a file would spell them."""
        return [str(label) for label in labels]

    def tokenize(self, x, y=None, targets=True, on_unknown="error"):
        """Raw inputs -> `TokenizedExamples` (with targets unless targets=False).

        on_unknown="skip" leaves out examples whose label the model does not know
        (counted in `skipped`); "error" names the file and line of the first."""
        if isinstance(x, TokenizedExamples):
            return x
        examples = self.as_examples(x, y)
        if not targets:
            return tokenize_examples(self.tokenizer, examples)
        encoded, kept, skipped = self.encode_targets(examples, on_unknown=on_unknown)
        if skipped:
            examples = examples.select(kept)
        return tokenize_examples(self.tokenizer, examples, encoded, skipped)

    def encode_targets(self, examples, on_unknown="error"):
        """(targets indexed like the kept examples or None, kept indices, skipped count)."""
        return None, np.arange(len(examples)), 0

    def preprocess(self, features, targets):
        """In the tf.data graph: a batch of features and targets -> Keras' (x, y)."""
        return features, targets

    def fit_options(self, section, targets):
        """Extra Keras fit() arguments from the recipe's task section (none here)."""
        return {}
