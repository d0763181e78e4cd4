"""tfbert: BERT text classification on Keras 3 / TensorFlow.

    tokenizer, encoder = tfbert.from_pretrained("all-minilm-l6-v2")

TensorFlow is imported when a model is first needed, not by `import tfbert`: the
command line's --help, recipes and the metrics load without it.
"""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ start-up chatter (CUDA probing, CPU features) drowns the output of
# a command-line tool; set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "BertConfig": "tfbert.models.config",
    "BertEncoder": "tfbert.models.encoder",
    "BertTokenizer": "tfbert.text.tokenizer",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfbert' has no attribute {name!r}")


def from_pretrained(path_or_name, dtype=None):
    """Returns (tokenizer, encoder) of a checkpoint given by directory or short name."""
    from tfbert.models.encoder import BertEncoder
    from tfbert.text.tokenizer import BertTokenizer

    # The encoder first: its errors describe a wrong directory best.
    encoder = BertEncoder.from_pretrained(path_or_name, dtype=dtype)
    return BertTokenizer.from_pretrained(path_or_name), encoder


__all__ = ["BertConfig", "BertEncoder", "BertTokenizer", "from_pretrained"]
