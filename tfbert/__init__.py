"""tfbert: BERT text classification on Keras 3 / TensorFlow."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from tfbert.config import BertConfig  # noqa: E402
from tfbert.encoder import BertEncoder  # noqa: E402
from tfbert.tokenizer import BertTokenizer  # noqa: E402

__version__ = "0.1.0"


def from_pretrained(path_or_name, dtype=None):
    """Returns (tokenizer, encoder) of a checkpoint given by directory or short name."""
    return (
        BertTokenizer.from_pretrained(path_or_name),
        BertEncoder.from_pretrained(path_or_name, dtype=dtype),
    )


__all__ = ["BertConfig", "BertEncoder", "BertTokenizer", "from_pretrained"]
