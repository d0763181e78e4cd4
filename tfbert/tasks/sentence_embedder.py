"""Sentence embeddings for semantic search: a checkpoint served as text -> vector.

    inputs -> BertEncoder -> mean of the real tokens' vectors (or the pooled [CLS])
           -> L2-normalised (optional)                         float32 [B, H]

Served (`serving_default`, and in-process `predict`):

    embedding   float32 [B, H]   unit length when `normalize`: a dot product is the cosine

Nothing is trained: `SentenceEmbedder.from_pretrained(checkpoint)` and
`export_for_serving` (or `tfbert embed --export NAME`). all-MiniLM-L6-v2 was trained for
exactly this (mean pooling, normalised), which is why those are the defaults.
"""

import keras
import tensorflow as tf

from tfbert.tasks.answers import EmbeddingAnswers
from tfbert.tasks.postprocessor import Postprocessor
from tfbert.tasks.registry import register_task
from tfbert.tasks.sections import EmbeddingSection
from tfbert.tasks.task import Task

POOLINGS = ("mean", "cls")


class EmbeddingPostprocessor(Postprocessor, EmbeddingAnswers):
    def postprocess(self, vectors, assets):
        return {"embedding": vectors}                                       # [B, H]


@register_task("embedding")
@keras.saving.register_keras_serializable(package="tfbert")
class SentenceEmbedder(Task):
    """An encoder and a pooling rule: one vector per text."""

    recipe_section = EmbeddingSection
    postprocessor_class = EmbeddingPostprocessor

    def __init__(self, encoder, tokenizer, pooling="mean", normalize=True, pair=False, **kwargs):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r} is not one of: {', '.join(POOLINGS)}.")
        super().__init__(encoder, tokenizer, pair=False, **kwargs)
        self.pooling = pooling
        self.normalize = bool(normalize)
        self.build_from_tokens()

    @classmethod
    def from_pretrained(cls, checkpoint, pooling="mean", normalize=True, max_length=128):
        from tfbert.models.encoder import BertEncoder
        from tfbert.text.tokenizer import BertTokenizer

        return cls(BertEncoder.from_pretrained(checkpoint),
                   BertTokenizer.from_pretrained(checkpoint, max_length=max_length),
                   pooling=pooling, normalize=normalize)

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        raise ValueError("task = \"embedding\" is not trained from a recipe: export a checkpoint's "
                         "sentence vectors with `tfbert embed --export NAME --checkpoint DIR`.")

    @property
    def reads_pooled_output(self):
        return self.pooling == "cls"

    @property
    def reads_only_pooled_output(self):
        return self.pooling == "cls"

    def call(self, inputs, training=None):
        outputs = self.encoder(inputs, training=training)
        if self.pooling == "cls":
            vectors = tf.cast(outputs["pooled_output"], tf.float32)                  # [B, H]
        else:
            mask = tf.cast(inputs["input_mask"], tf.float32)[:, :, None]            # [B, T, 1]
            total = tf.reduce_sum(tf.cast(outputs["sequence_output"], tf.float32) * mask, 1)
            vectors = total / tf.maximum(tf.reduce_sum(mask, 1), 1.0)               # [B, H]
        if self.normalize:
            vectors = tf.math.l2_normalize(vectors, axis=-1, epsilon=1e-24)
        return vectors

    def plain_config(self):
        return {**super().plain_config(), "pooling": self.pooling, "normalize": self.normalize}


