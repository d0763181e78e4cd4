"""The fine-tuning optimizer: AdamW as BERT used it, with an optional learning rate of
the head's own, and of chosen rows of a table (the tokens a vocabulary extension added)."""

import keras
import numpy as np
import tensorflow as tf

from tfbert.training.schedule import LinearWarmupLinearDecay

# Keras versions whose optimizer internals this class overrides (`_apply_weight_decay`,
# `_clip_gradients`, `_all_reduce_sum_gradients`, `_distributed_tf_update_step`,
# `_var_key`, `_momentums`, `_velocities`): they are private and may change in any release.
WRITTEN_FOR = ("3.15.",)


def check_keras_version(written_for, what, where):
    """RuntimeError unless the installed Keras is one of `written_for` (version
    prefixes): `what` relies on Keras internals that `where` overrides."""
    if not keras.__version__.startswith(tuple(written_for)):
        raise RuntimeError(
            f"{what} overrides private Keras methods written for Keras "
            f"{', '.join(v + 'x' for v in written_for)}; this is Keras {keras.__version__}. "
            f"See {where}: check the overridden methods against this Keras, then add its "
            "version to WRITTEN_FOR (or install a Keras it was written for).")


@keras.saving.register_keras_serializable(package="tfbert")
class AdamWWithHeadRate(keras.optimizers.AdamW):
    """AdamW in which the variables named by `scale_learning_rate` step with
    `head_rate_multiplier` times the learning rate (same warm-up and decay).

    Why: a fresh head (or CRF) starts from random weights while the encoder only needs
    nudging; at BERT's 2e-5..5e-5 the head learns slowly, at a rate good for the head the
    encoder forgets. Keras' optimizers have one learning rate, so the scaled rate is
    applied in `update_step`, the per-variable step every Keras optimizer runs. Weight
    decay keeps the base rate. `scale_rows` does the same for chosen rows of one table.
    The scaled variables and rows are not serialized: an optimizer restored from a
    saved model steps every variable at the base rate (a run that resumes compiles again,
    which sets them again).

    fused (default): the same AdamW in fewer passes over each weight (TensorFlow's
    ResourceApplyAdam kernel, weight decay as one multiply; `_fused_adam_step`);
    fused=False runs Keras' own ops.
    """

    def __init__(self, head_rate_multiplier=1.0, fused=True, **kwargs):
        check_keras_version(WRITTEN_FOR, "tfbert's AdamWWithHeadRate", "tfbert/training/optimizer.py")
        super().__init__(**kwargs)
        self.fused = bool(fused)
        if not head_rate_multiplier > 0:
            raise ValueError(f"head_rate_multiplier must be > 0, got {head_rate_multiplier!r}.")
        self.head_rate_multiplier = float(head_rate_multiplier)
        self._scaled_keys = set()
        self._row_multipliers = {}  # variable key -> float32 [rows, 1]
        self._step_scalars = None  # during a step: dtype -> (beta_1, beta_2, powers)

    def scale_rows(self, variable, rows, multiplier):
        """Steps the rows `rows` of the 2-D `variable` at `multiplier` x the learning
        rate (the variable's other rows at the rate they had).

        Why: rows a vocabulary extension added all start from one vector (the mean
        embedding); at the encoder's rate (~1e-4, and Adam moves a weight about that
        much per step) they barely become distinct in one epoch of domain text, while
        the trained rows must not be shaken. Weight decay keeps the base rate.
        """
        rows = [int(row) for row in rows]
        if len(variable.shape) != 2:
            raise ValueError(f"scale_rows needs a 2-D variable; {variable.path} has shape "
                             f"{tuple(variable.shape)}.")
        if rows and not 0 <= min(rows) <= max(rows) < variable.shape[0]:
            raise ValueError(f"rows must be in [0, {variable.shape[0]}) for {variable.path}; got "
                             f"{min(rows)}..{max(rows)}.")
        if not multiplier > 0:
            raise ValueError(f"multiplier must be > 0, got {multiplier!r}.")
        factors = np.ones([variable.shape[0], 1], np.float32)
        factors[rows] = multiplier
        self._row_multipliers[self._var_key(variable)] = tf.constant(factors)

    def scale_learning_rate(self, var_list):
        """Steps `var_list` at head_rate_multiplier x the learning rate from now on."""
        self._scaled_keys = {self._var_key(variable) for variable in var_list}

    def _apply_weight_decay(self, variables):
        if not self.fused:
            super()._apply_weight_decay(variables)
        # fused: each variable decays in update_step, just before its Adam step

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        # The scalars every variable's step shares (Adam's beta powers) are made once
        # per step here, not once per variable: BERT-base has ~200 variables, and each
        # would add its own few scalar ops to every step and every traced graph.
        self._step_scalars = {}
        try:
            return super()._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)
        finally:
            self._step_scalars = None

    def update_step(self, gradient, variable, learning_rate):
        decay = None
        if self.fused and self.weight_decay and self._use_weight_decay(variable):
            # Keras' decoupled decay, w -= w * weight_decay * lr (the base rate, which
            # `learning_rate` is until the head's multiplier below), as one multiply (or
            # inside the sparse step): Keras' own form is three passes.
            decay = tf.cast(learning_rate * self.weight_decay, variable.dtype)
        if self.head_rate_multiplier != 1.0 and self._var_key(variable) in self._scaled_keys:
            learning_rate = learning_rate * self.head_rate_multiplier
        factors = self._row_multipliers.get(self._var_key(variable))
        if isinstance(gradient, tf.IndexedSlices):  # summed rows (apply)
            if factors is None and self.fused and not self.amsgrad:
                return self._fused_sparse_adam_step(gradient, variable, learning_rate, decay)
            gradient = tf.convert_to_tensor(gradient)  # Keras' step needs every row
        if decay is not None:
            variable.assign(variable * (1.0 - decay))
        if factors is not None:  # [rows, 1]: Adam's step broadcasts it over each row
            learning_rate = tf.cast(learning_rate, variable.dtype) * tf.cast(factors, variable.dtype)
            super().update_step(gradient, variable, learning_rate)
        elif self.fused and not self.amsgrad:
            self._fused_adam_step(gradient, variable, learning_rate)
        else:
            super().update_step(gradient, variable, learning_rate)

    def _fused_adam_step(self, gradient, variable, learning_rate):
        """Keras' Adam step (keras.optimizers.Adam.update_step) in TensorFlow's one
        ResourceApplyAdam kernel: the same formula,

            alpha = lr * sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
            m += (g - m) * (1 - beta_1);  v += (g * g - v) * (1 - beta_2)
            w -= alpha * m / (sqrt(v) + epsilon)

        Why: Keras runs it as about ten separate ops, each a pass over the weight; on
        the 30,522 x 384 word-embedding table (dense gradient: several replicas, or row
        multipliers; otherwise `_fused_sparse_adam_step`) that is most of the optimizer's
        time. Fused, CoNLL fine-tuning ran 1.19x faster on two cores (bench/RESULTS.md,
        "Token tagging").
        """
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        beta_1, beta_2, beta_1_power, beta_2_power = self._betas_and_powers(dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=beta_1_power, beta2_power=beta_2_power,
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))

    def _fused_sparse_adam_step(self, gradient, variable, learning_rate, decay):
        """The step of `_fused_adam_step`, weight decay included, for a gradient given
        as summed rows (an embedding table's), in one XLA-compiled pass over the table.

        Every row's moments decay (m *= beta_1, v *= beta_2), the looked-up rows add
        their gradient's share, and every row takes its Adam step and weight decay:
        exactly dense AdamW with zeros in the other rows, without building that dense
        gradient or passing over the table three times (densify, decay, Adam kernel).
        Measured on two cores (bench/RESULTS.md, "Token tagging").
        """
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        beta_1, beta_2, beta_1_power, beta_2_power = self._betas_and_powers(dtype)
        alpha = tf.cast(learning_rate, dtype) * tf.sqrt(1.0 - beta_2_power) / (1.0 - beta_1_power)
        rows, values = _rows_padded_to_bucket(gradient)
        _sparse_adamw_update(
            _tf_variable(variable), _tf_variable(self._momentums[index]),
            _tf_variable(self._velocities[index]), rows, tf.cast(values, dtype), alpha,
            tf.zeros([], dtype) if decay is None else decay, beta_1, beta_2,
            tf.cast(self.epsilon, dtype))

    def _betas_and_powers(self, dtype):
        """(beta_1, beta_2, beta_1 ** t, beta_2 ** t) as `dtype`, t this step's number."""
        if self._step_scalars is not None and dtype in self._step_scalars:
            return self._step_scalars[dtype]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        scalars = beta_1, beta_2, tf.pow(beta_1, step), tf.pow(beta_2, step)
        if self._step_scalars is not None:
            self._step_scalars[dtype] = scalars
        return scalars

    def apply(self, grads, trainable_variables=None):
        """Keras' apply, with sparse gradients (embedding lookups') summed per row first:
        made dense, or (fused, one replica: `_sparse_until_update`) one row per index.

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
        if self._sparse_until_update():
            grads = [_summed_rows(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        else:
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                     for g in grads]
        return super().apply(grads, trainable_variables)

    def _sparse_until_update(self):
        """On one replica, the fused optimizer keeps an embedding's gradient as one
        summed row per looked-up token until its Adam step: its norm and clipping then
        cost a few hundred rows, not passes over the 30,522-row table (+5 % CoNLL
        fine-tuning speed, bench/RESULTS.md). Rows summed first, it is the same gradient."""
        return (self.fused and _replicas() <= 1 and not self.gradient_accumulation_steps
                and not self.clipnorm and not self.clipvalue)

    # Under a tf.distribute strategy with several replicas, Keras (3.15) clips each
    # replica's gradients by their own global norm before summing them across replicas
    # (BaseOptimizer._backend_apply_gradients, then _all_reduce_sum_gradients): not the
    # clipping of the global batch's gradient that one device does. Here clipping
    # waits until the gradients are summed.

    def _clip_gradients(self, grads):
        if _replicas() > 1:
            return grads  # clipped in _all_reduce_sum_gradients, once summed
        if self._sparse_until_update() and self.global_clipnorm:
            # Keras' clip_by_global_norm formula, in TensorFlow's form, which takes
            # IndexedSlices (rows summed: their values' norm is the dense gradient's).
            return tf.clip_by_global_norm(grads, self.global_clipnorm)[0]
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        summed = list(super()._all_reduce_sum_gradients(grads_and_vars))
        if _replicas() <= 1:
            return summed
        return list(zip(super()._clip_gradients([g for g, _ in summed]), [v for _, v in summed]))

    def get_config(self):
        return {**super().get_config(), "head_rate_multiplier": self.head_rate_multiplier,
                "fused": self.fused}


def _summed_rows(slices):
    """An IndexedSlices with each row index once, its values summed (the dense
    gradient's nonzero rows)."""
    rows, position = tf.unique(slices.indices)
    values = tf.math.unsorted_segment_sum(slices.values, position, tf.shape(rows)[0])
    return tf.IndexedSlices(values, rows, slices.dense_shape)


def _rows_padded_to_bucket(slices):
    """(rows [n, 1], values [n, H]) of summed-row slices, n rounded up to a power of two
    (at least 256) with row 0 and zero values: XLA compiles once per shape, and a batch's
    count of distinct tokens changes every step. Adding zeros to a row changes nothing."""
    count = tf.shape(slices.indices)[0]
    bucket = tf.maximum(256, tf.cast(
        2 ** tf.math.ceil(tf.math.log(tf.cast(tf.maximum(count, 1), tf.float32)) / tf.math.log(2.0)),
        tf.int32))
    bucket = tf.maximum(bucket, count)  # log rounding: never fewer than count
    rows = tf.pad(tf.cast(slices.indices, tf.int32), [[0, bucket - count]])
    values = tf.pad(slices.values, [[0, bucket - count], [0, 0]])
    return rows[:, None], values


@tf.function(jit_compile=True, autograph=False)
def _sparse_adamw_update(variable, m, v, rows, values, alpha, decay, beta_1, beta_2, epsilon):
    # variable, m, v: [V, H]; rows [n, 1]; values [n, H]: the looked-up rows' gradients.
    m_new = tf.tensor_scatter_nd_add(m * beta_1, rows, values * (1.0 - beta_1))
    v_new = tf.tensor_scatter_nd_add(v * beta_2, rows, tf.square(values) * (1.0 - beta_2))
    m.assign(m_new)
    v.assign(v_new)
    variable.assign(variable * (1.0 - decay) - alpha * m_new / (tf.sqrt(v_new) + epsilon))


def _tf_variable(variable):
    """The tf.Variable behind a Keras variable."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable (inside a tf.distribute
    update, a distributed variable's handle is the one of the device being updated)."""
    return _tf_variable(variable).handle


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
