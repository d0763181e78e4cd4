"""The `[CLS]`-pooled classification head of the original BERT."""

import keras


@keras.saving.register_keras_serializable(package="tfbert")
class ClsPoolingHead(keras.layers.Layer):
    """pooled_output -> dropout -> dense: the encoder's tanh-pooled [CLS] vector
    decides.

    Call with the encoder's output dict and the input mask (unused here; both heads
    take the same arguments so a recipe can swap them). Returns float32 logits
    [batch, num_outputs]: the loss and softmax stay in float32 under mixed precision.
    """

    def __init__(self, num_outputs, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.output_dense = keras.layers.Dense(
            num_outputs,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype="float32",
            name="output_dense",
        )

    def build(self, encoder_outputs_shape, input_mask_shape=None):
        self.output_dense.build(encoder_outputs_shape["pooled_output"])
        self.built = True

    def call(self, encoder_outputs, input_mask=None, training=None):
        pooled = self.dropout_layer(encoder_outputs["pooled_output"], training=training)
        return self.output_dense(pooled)  # [B, num_outputs]

    def get_config(self):
        config = super().get_config()
        config.update(
            num_outputs=self.num_outputs,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config
