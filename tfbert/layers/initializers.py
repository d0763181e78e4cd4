"""BERT's weight initializer, and a scope that skips its random draws for a load.

Every weight of BERT starts as a truncated normal (stddev `initializer_range`). When
a checkpoint is about to overwrite all of them, drawing those numbers is wasted
work: ~23 M of them for MiniLM, three quarters of building its encoder (0.65 of
0.86 s in a cProfile of `BertEncoder.from_bert_config`, 2026-12-05).
"""

import contextlib
import threading

import keras

_scope = threading.local()


@contextlib.contextmanager
def weights_from_checkpoint():
    """Layers constructed inside start at zeros instead of drawing truncated normals.

    Only for code that then assigns every weight or raises (`BertEncoder.from_pretrained`:
    `assign_checkpoint_weights` checks all of them before assigning any). Layers keep
    `initializer_range` in their config, so a model rebuilt from it draws as usual.
    """
    previous = getattr(_scope, "active", False)
    _scope.active = True
    try:
        yield
    finally:
        _scope.active = previous


def truncated_normal(stddev):
    """BERT's initializer: a truncated normal of `stddev`; zeros inside `weights_from_checkpoint`."""
    if getattr(_scope, "active", False):
        return keras.initializers.Zeros()
    return keras.initializers.TruncatedNormal(stddev=stddev)
