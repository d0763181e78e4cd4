"""Reading text examples and turning their labels into targets.

Only the pure-Python parts are re-exported here; `tfbert.data.pipeline` (tf.data
batches) imports TensorFlow and is imported by name where it is needed.
"""

from tfbert.data.labels import LabelVocabulary, parse_scores
from tfbert.data.readers import FORMATS, TextExamples, read_examples

__all__ = ["FORMATS", "LabelVocabulary", "TextExamples", "parse_scores", "read_examples"]
