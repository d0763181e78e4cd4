"""The fine-tuning optimizer: AdamW as BERT used it, with an optional learning rate of
the head's own."""

import keras
import tensorflow as tf

from tfbert.training.schedule import LinearWarmupLinearDecay


@keras.saving.register_keras_serializable(package="tfbert")
class AdamWWithHeadRate(keras.optimizers.AdamW):
    """AdamW in which the variables named by `scale_learning_rate` step with
    `head_rate_multiplier` times the learning rate (same warm-up and decay).

    Why: a fresh head (or CRF) starts from random weights while the encoder only needs
    nudging; at BERT's 2e-5..5e-5 the head learns slowly, at a rate good for the head the
    encoder forgets. Keras' optimizers have one learning rate, so the scaled rate is
    applied in `update_step`, the per-variable step every Keras optimizer runs. Weight
    decay keeps the base rate. The set of scaled variables is not serialized: an
    optimizer restored from a saved model steps every variable at the base rate.
    """

    def __init__(self, head_rate_multiplier=1.0, **kwargs):
        super().__init__(**kwargs)
        if not head_rate_multiplier > 0:
            raise ValueError(f"head_rate_multiplier must be > 0, got {head_rate_multiplier!r}.")
        self.head_rate_multiplier = float(head_rate_multiplier)
        self._scaled_keys = set()

    def scale_learning_rate(self, var_list):
        """Steps `var_list` at head_rate_multiplier x the learning rate from now on."""
        self._scaled_keys = {self._var_key(variable) for variable in var_list}

    def update_step(self, gradient, variable, learning_rate):
        if self.head_rate_multiplier != 1.0 and self._var_key(variable) in self._scaled_keys:
            learning_rate = learning_rate * self.head_rate_multiplier
        super().update_step(gradient, variable, learning_rate)

    def apply(self, grads, trainable_variables=None):
        """Keras' apply, with sparse gradients (embedding lookups') made dense first.

        Why: the gradient of an embedding lookup is a tf.IndexedSlices with one row per
        looked-up position, so a token seen k times in a batch ([CLS], "the", every
        token-type id) has k rows. Keras (3.15) squares those rows for Adam's second
        moment before they are summed: v grows by sum(g_i ** 2), not (sum g_i) ** 2, a
        different optimizer for exactly the rows that repeat (measured: 0.09 apart from
        dense AdamW on a tiny model after 8 steps). Made dense, the rows are summed
        first (tf.convert_to_tensor), as AdamW defines it and as PyTorch's dense
        embedding gradients do. Dense gradients are also what a collective all-reduce
        across replicas needs: it packs every gradient into one tensor, and replicas
        whose batches hold different numbers of tokens would pack different shapes.
        """
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super().apply(grads, trainable_variables)

    # Under a tf.distribute strategy with several replicas, Keras (3.15) clips each
    # replica's gradients by their own global norm before summing them across replicas
    # (BaseOptimizer._backend_apply_gradients, then _all_reduce_sum_gradients): not the
    # clipping of the global batch's gradient that one device does. Here clipping
    # waits until the gradients are summed.

    def _clip_gradients(self, grads):
        if _replicas() > 1:
            return grads  # clipped in _all_reduce_sum_gradients, once summed
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        summed = list(super()._all_reduce_sum_gradients(grads_and_vars))
        if _replicas() <= 1:
            return summed
        return list(zip(super()._clip_gradients([g for g, _ in summed]), [v for _, v in summed]))

    def get_config(self):
        return {**super().get_config(), "head_rate_multiplier": self.head_rate_multiplier}


def _replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync if tf.distribute.has_strategy() else 1


def make_optimizer(learning_rate, total_steps, warmup_ratio=0.1, weight_decay=0.01,
                   clip_norm=1.0, epsilon=1e-6, head_learning_rate=0.0):
    """AdamW with linear warm-up/decay and global gradient-norm clipping.

    head_learning_rate: the peak rate of the head's weights (0: learning_rate); which
    weights are the head's, and which decay, is decided when a task compiles with it
    (`Task.compile`): every weight outside the encoder; every weight but the 1-D ones.
    """
    schedule = LinearWarmupLinearDecay(
        learning_rate, total_steps, warmup_steps=int(round(warmup_ratio * total_steps))
    )
    return AdamWWithHeadRate(
        head_rate_multiplier=head_learning_rate / learning_rate if head_learning_rate else 1.0,
        learning_rate=schedule,
        weight_decay=weight_decay,
        epsilon=epsilon,
        global_clipnorm=clip_norm if clip_norm else None,
    )
