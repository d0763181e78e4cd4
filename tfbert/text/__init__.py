"""From raw text to WordPiece ids, in the TensorFlow graph: the tokenizer
(`tokenizer.py`), the Unicode tables it is built from (`cjk.py`, `lowercase_skew.py`,
cached on disk by `unicode_cache.py`), byte to character offsets (`offsets.py`) and
vocabulary extension for continued pretraining (`vocabulary.py`)."""
