"""BERT's input embeddings: token + segment + learned absolute position."""

import keras
import tensorflow as tf
from keras import ops

from tfbert.layers.dropout import BertDropout
from tfbert.layers.initializers import truncated_normal
from tfbert.layers.layer_norm import BertLayerNorm


@keras.saving.register_keras_serializable(package="tfbert")
class BertEmbeddings(keras.layers.Layer):
    """Sums the three embeddings, then LayerNorm and dropout.

    Call with `input_ids` and `segment_ids`, both int [batch, seq]; returns
    float [batch, seq, hidden]. `seq` may differ from call to call up to
    `max_position_embeddings`.
    """

    def __init__(
        self,
        vocab_size,
        hidden_size,
        max_position_embeddings=512,
        type_vocab_size=2,
        dropout=0.1,
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        initializer = truncated_normal(initializer_range)
        self.token_embedding = keras.layers.Embedding(
            vocab_size, hidden_size, embeddings_initializer=initializer,
            dtype=self.dtype_policy, name="token_embedding",
        )
        # type_vocab_size 0: no segment table (DistilBERT); segment ids are not read.
        self.segment_embedding = keras.layers.Embedding(
            type_vocab_size, hidden_size, embeddings_initializer=initializer,
            dtype=self.dtype_policy, name="segment_embedding",
        ) if type_vocab_size else None
        self.layer_norm = BertLayerNorm(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm"
        )
        self.dropout_layer = BertDropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.token_embedding.build((None, None))
        if self.segment_embedding is not None:
            self.segment_embedding.build((None, None))
        # A plain weight rather than an Embedding layer: positions are always
        # 0..seq-1, so a slice is all the lookup there is.
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(self.max_position_embeddings, self.hidden_size),
            initializer=truncated_normal(self.initializer_range),
        )
        self.layer_norm.build((None, None, self.hidden_size))
        self.built = True

    def call(self, input_ids, segment_ids, training=None):
        return self.from_token_vectors(self.token_embedding(input_ids), segment_ids, training)

    def from_token_vectors(self, token_vectors, segment_ids, training=None):
        """The rest of `call` after the token lookup, from given token vectors
        [batch, seq, hidden]: integrated gradients moves them along a path from a
        baseline, which no id can name."""
        seq_length = ops.shape(token_vectors)[1]
        tf.debugging.assert_less_equal(
            seq_length, self.max_position_embeddings,
            message=f"sequence longer than max_position_embeddings="
            f"{self.max_position_embeddings}; truncate the input (the tokenizer's "
            "max_length does this)",
        )
        positions = ops.cast(self.position_embedding[:seq_length], self.compute_dtype)
        embeddings = token_vectors + positions[None, :, :]  # [batch, seq, hidden]
        if self.segment_embedding is not None:
            embeddings += self.segment_embedding(segment_ids)  # [batch, seq, hidden]
        embeddings = self.layer_norm(embeddings, training=training)
        return self.dropout_layer(embeddings, training=training)

    def compute_output_shape(self, input_ids_shape, segment_ids_shape=None):
        return tuple(input_ids_shape) + (self.hidden_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=self.initializer_range,
        )
        return config
