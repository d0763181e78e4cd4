"""tfbert: BERT text classification on Keras 3 / TensorFlow."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ start-up chatter (CUDA probing, CPU features) drowns the output of
# a command-line tool; set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfbert.config import BertConfig  # noqa: E402
from tfbert.encoder import BertEncoder  # noqa: E402
from tfbert.tokenizer import BertTokenizer  # noqa: E402

__version__ = "0.1.0"


def from_pretrained(path_or_name, dtype=None):
    """Returns (tokenizer, encoder) of a checkpoint given by directory or short name."""
    # The encoder first: its errors describe a wrong directory best.
    encoder = BertEncoder.from_pretrained(path_or_name, dtype=dtype)
    return BertTokenizer.from_pretrained(path_or_name), encoder


__all__ = ["BertConfig", "BertEncoder", "BertTokenizer", "from_pretrained"]
