"""An export loaded in this process, asked as a TF Serving client asks the server:
the same `predict` (texts and pairs in, {output name: array} out, strings as str,
entity offsets as str indices), so that what reads a server's answers reads these."""

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the export's tokenizer ops)

from tfbert.serving.grpc_client import decode_strings
from tfbert.serving.inputs import text_and_pair_batches
from tfbert.text.offsets import with_char_offsets


class LocalClient:
    def __init__(self, version_dir):
        self.version_dir = str(version_dir)
        self._signatures = tf.saved_model.load(self.version_dir).signatures

    def predict(self, texts, text_pairs=None, signature="serving_default"):
        texts, text_pairs = text_and_pair_batches(texts, text_pairs)
        inputs = {"text": tf.constant(texts, dtype=tf.string)}
        if text_pairs is not None:
            inputs["text_pair"] = tf.constant(text_pairs, dtype=tf.string)
        outputs = self._signatures[signature](**inputs)
        return with_char_offsets(
            {name: decode_strings(np.asarray(tensor.numpy())) for name, tensor in outputs.items()},
            texts)
