"""Integrated gradients: how much each input token moved one output of the model.

Sundararajan, Taly and Yan 2017, "Axiomatic Attribution for Deep Networks". For an
input x (a text's word-piece embedding vectors, [T, H]), a baseline x' (the same
sequence with its word pieces replaced by a neutral token: see BASELINES) and the
output F explained (a probability, a score), token t's attribution is

    IG_t = sum_h (x - x')_th * integral_0^1 dF(x' + a (x - x')) / dx_th da

The integral is computed by Gauss-Legendre quadrature over `steps` points of the
straight path (Captum's default method too): for the smooth F of a transformer it is
exact to far better than the trapezoid rule with as many points. Completeness, the
axiom that makes attributions add up, says

    sum_t IG_t = F(x) - F(x')

so the gap between the two sides measures the quadrature's error; each explanation
reports it (`completeness_gap`, as a share of |F(x) - F(x')|) and more steps shrink it.

Only the word-piece vectors move; position and segment embeddings, the attention mask
and the [CLS] / [SEP] tokens stay as in the input: the attributions are the words'.
"""

import numpy as np
import tensorflow as tf

# The neutral input each word piece is replaced by at the baseline: "pad" ([PAD]'s
# vector, the most common choice for BERT; the mask still attends to it), "mask"
# ([MASK]'s, what the masked-LM pretraining saw for a hidden word), "zero" (the zero
# vector, the paper's choice for images, which no real token has).
BASELINES = ("pad", "mask", "zero")
DEFAULT_STEPS = 50
# Path points per forward and backward pass: memory holds this many copies of the
# text's activations.
POINTS_PER_CALL = 25


def quadrature(steps):
    """(points a in (0, 1), weights summing to 1): Gauss-Legendre on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (nodes + 1.0) / 2.0, weights / 2.0


def integrated_gradients(output_of, token_vectors, baseline_vectors, steps=DEFAULT_STEPS):
    """output_of: token vectors [n, T, H] -> the explained output [n] (a function of
    TF ops); token_vectors, baseline_vectors: [T, H].

    Returns (attributions [T] float64, F(x), F(x')), numpy and floats."""
    if steps < 1:
        raise ValueError(f"steps must be 1 or more, got {steps}.")
    x = tf.convert_to_tensor(token_vectors, tf.float32)
    x0 = tf.convert_to_tensor(baseline_vectors, tf.float32)
    alphas, weights = quadrature(steps)
    difference = x - x0                                                       # [T, H]
    average_gradient = np.zeros(difference.shape, np.float64)                 # [T, H]
    for start in range(0, steps, POINTS_PER_CALL):
        a = tf.constant(alphas[start:start + POINTS_PER_CALL], tf.float32)   # [p]
        path = x0[None] + a[:, None, None] * difference[None]                 # [p, T, H]
        with tf.GradientTape() as tape:
            tape.watch(path)
            values = output_of(path)                                          # [p]
        gradients = tape.gradient(values, path).numpy().astype(np.float64)    # [p, T, H]
        average_gradient += np.tensordot(weights[start:start + POINTS_PER_CALL], gradients, 1)
    attributions = np.sum(difference.numpy().astype(np.float64) * average_gradient, axis=-1)
    ends = output_of(tf.stack([x, x0])).numpy()                               # F(x), F(x')
    return attributions, float(ends[0]), float(ends[1])
