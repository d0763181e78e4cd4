"""Tiny random models for tests, and a comparison of outputs that can fail.

A freshly initialised BERT (weights of stddev 0.02) gives nearly the same output for
every text: comparing two such models' outputs within 1e-5 would pass even if one
of them answered every row with another row's answer, or with a constant.
`spread` gives a model weights large enough that different texts get clearly
different outputs, and `assert_rows_match` refuses to compare rows that are too
alike for a mix-up to show.
"""

import keras
import numpy as np

from tfbert import BertEncoder, BertTokenizer

WORDS = ("good great fine bad awful poor movie film plot the was is very not a flight fare "
         "weather").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def tiny(seed=0, max_length=32, **encoder_kwargs):
    """(encoder, tokenizer) of a random 2-layer, 32-wide BERT over VOCAB."""
    keras.utils.set_random_seed(seed)
    config = dict(vocab_size=len(VOCAB), hidden_size=32, num_layers=2, num_heads=4,
                  intermediate_size=64, max_position_embeddings=64, hidden_dropout=0.0,
                  attention_dropout=0.0)
    encoder = BertEncoder(**{**config, **encoder_kwargs})
    return encoder, BertTokenizer(VOCAB, max_length=max_length)


def spread(model, seed=0, scale=0.3):
    """Adds seeded noise of stddev `scale` to every weight: a random model whose
    outputs differ clearly from text to text. Returns the model."""
    rng = np.random.default_rng(seed)
    model.set_weights([weight + rng.normal(0.0, scale, weight.shape).astype(weight.dtype)
                       for weight in model.get_weights()])
    return model


def min_row_gap(rows):
    """The smallest max-abs difference between two rows of `rows` [n, ...]."""
    rows = np.asarray(rows, np.float64).reshape(len(rows), -1)
    gaps = np.abs(rows[:, None, :] - rows[None, :, :]).max(axis=-1)
    gaps[np.diag_indices(len(rows))] = np.inf
    return gaps.min()


def assert_rows_match(actual, expected, atol=1e-5):
    """Row i of `actual` equals row i of `expected` within `atol`, and the expected
    rows are more than 2 * atol apart from each other, so that this check fails for
    any two rows swapped and for a constant answer."""
    expected = np.asarray(expected)
    assert len(expected) >= 2, "compare at least two rows"
    gap = min_row_gap(expected)
    assert gap > 2 * atol, (f"the expected rows are too alike (closest pair {gap:.2e} apart) "
                             f"for a row mix-up to exceed atol={atol}")
    np.testing.assert_allclose(np.asarray(actual), expected, atol=atol, rtol=0)
