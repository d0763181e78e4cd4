"""`PoolingHead`: what every classification head shares.

    pooled = pool(encoder_outputs, input_mask)     [batch, hidden]
    logits = dense(dropout(pooled))                float32 [batch, num_outputs]

Heads differ only in `pool`, how they turn the encoder's outputs into one vector per
example; a subclass writes that and nothing else.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfbert")
class PoolingHead(keras.layers.Layer):
    """Base of the pooling heads; subclasses implement `pool`.

    Call with the encoder's output dict (`sequence_output` [batch, seq, hidden],
    `pooled_output` [batch, hidden]) and the input mask int [batch, seq]; every head
    takes the same arguments so that a recipe can swap them. Returns float32 logits
    [batch, num_outputs].
    """

    # True when `pool` reads only `pooled_output`: such a head can run on an encoder
    # built with pooled_only=True, whose `sequence_output` holds [CLS] alone.
    reads_only_pooled_output = False

    def __init__(self, num_outputs, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.dropout = dropout
        self.initializer_range = initializer_range
        # From the pooled vector on everything is float32: it is only [B, H], and the
        # loss and softmax then see exact logits under mixed precision.
        self.dropout_layer = keras.layers.Dropout(dropout, dtype="float32")
        self.output_dense = keras.layers.Dense(
            num_outputs,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype="float32",
            name="output_dense",
        )

    def build(self, encoder_outputs_shape, input_mask_shape=None):
        self.output_dense.build((None, encoder_outputs_shape["pooled_output"][-1]))
        self.built = True

    def pool(self, encoder_outputs, input_mask):
        """Returns one vector per example, [batch, hidden]."""
        raise NotImplementedError(f"{type(self).__name__} must implement pool().")

    def call(self, encoder_outputs, input_mask, training=None):
        pooled = ops.cast(self.pool(encoder_outputs, input_mask), "float32")   # [B, H]
        pooled = self.dropout_layer(pooled, training=training)
        return self.output_dense(pooled)                                       # [B, num_outputs]

    def get_config(self):
        config = super().get_config()
        config.update(
            num_outputs=self.num_outputs,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config
