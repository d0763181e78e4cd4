"""Keras' LayerNormalization over the last axis (its weights and config), with the
formula and its backward pass written out."""

import keras
import tensorflow as tf


def _normalize_with_gradient(x, gamma, beta, epsilon):
    """gamma * (x - mean) / sqrt(var + epsilon) + beta over the last axis, float32.

    Differentiated op by op (moments, rsqrt, broadcasts) the backward pass is some
    fifteen elementwise passes; written out it is the textbook formula below, which
    reuses the forward pass's normalized x and 1/std. A training step of the tagging
    bench measured it (bench/RESULTS.md, "Token tagging").
    """

    @tf.custom_gradient
    def normalize(x, gamma, beta):                                   # x [..., H]
        normalized, inverse_std = _normalized(x, epsilon)             # [..., H], [..., 1]

        def gradient(upstream):                                       # [..., H]
            d_normalized = upstream * gamma
            d_x = inverse_std * (
                d_normalized
                - tf.reduce_mean(d_normalized, axis=-1, keepdims=True)
                - normalized * tf.reduce_mean(d_normalized * normalized, axis=-1, keepdims=True))
            rows = tf.range(tf.rank(upstream) - 1)                    # every axis but H
            return (d_x, tf.reduce_sum(upstream * normalized, axis=rows),
                    tf.reduce_sum(upstream, axis=rows))

        return normalized * gamma + beta, gradient

    return normalize(x, gamma, beta)


def _normalized(x, epsilon):
    """((x - mean) / sqrt(var + epsilon), 1 / sqrt(var + epsilon)) over the last axis."""
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)                  # [..., 1]
    centered = x - mean
    inverse_std = tf.math.rsqrt(tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True) + epsilon)
    return centered * inverse_std, inverse_std


@keras.saving.register_keras_serializable(package="tfbert")
class BertLayerNorm(keras.layers.LayerNormalization):
    """keras.layers.LayerNormalization (last axis, scale and center) computed by the
    textbook formula, with a written-out backward pass in training. Keras' own call
    is the same formula in about twice the ops, which every traced graph (and every
    served request) pays for.

    The weights (gamma, beta), their names and the config are Keras' own, so
    checkpoints and saved models read them as before. Computed in float32 and cast
    to the compute dtype, as Keras does for half-precision inputs.
    """

    def __init__(self, epsilon=1e-12, **kwargs):
        super().__init__(epsilon=epsilon, **kwargs)
        if self.axis not in (-1, [-1]) or self.rms_scaling or not (self.center and self.scale):
            raise ValueError("BertLayerNorm normalizes the last axis with scale and center; "
                             f"got axis={self.axis}, center={self.center}, scale={self.scale}, "
                             f"rms_scaling={self.rms_scaling}.")

    def call(self, inputs, training=None):
        # float32 throughout, whatever the inputs' and the weights' dtype (a bfloat16
        # export stores bfloat16 weights).
        x, gamma, beta = (tf.cast(t, "float32") for t in (inputs, self.gamma, self.beta))
        if training:
            outputs = _normalize_with_gradient(x, gamma, beta, self.epsilon)
        else:  # the same formula, without the custom gradient's bookkeeping
            outputs = _normalized(x, self.epsilon)[0] * gamma + beta
        return tf.cast(outputs, self.compute_dtype)
