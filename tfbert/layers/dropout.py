"""Keras' Dropout, drawing its noise in float32 and selecting instead of multiplying."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfbert")
class BertDropout(keras.layers.Dropout):
    """keras.layers.Dropout with a cheaper training graph; outside training, Keras' own.

    Each value is kept with probability 1 - rate and scaled by 1 / (1 - rate), as in
    Keras. Keras' TensorFlow dropout draws its uniform noise in the input's dtype (in
    bfloat16 that draw is slower than float32's) and multiplies by a cast mask; here the
    noise is float32 and one select keeps or zeros each value (a throwaway probe on
    [32, 12, 40, 40] bfloat16 attention weights: 2.57 -> 1.94 ms; the training speed it
    gives is in bench/RESULTS.md, "Token tagging"). The random stream is Keras' seed
    generator's, so `seed=` still makes runs repeatable.
    """

    def call(self, inputs, training=False):
        if not training or self.noise_shape is not None or not 0.0 < self.rate < 1.0:
            return super().call(inputs, training=training)
        noise = keras.random.uniform(ops.shape(inputs), dtype="float32",
                                     seed=self.seed_generator)
        kept = inputs * ops.cast(1.0 / (1.0 - self.rate), inputs.dtype)
        return ops.where(noise >= self.rate, kept, ops.zeros((), inputs.dtype))
