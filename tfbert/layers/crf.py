"""A linear-chain conditional random field (CRF) for token tagging: BERT + CRF.

A sentence of n words with unary potentials P [n, C] (the tagging head's logits) gives
every tag sequence y_0 .. y_{n-1} one score, and the CRF a distribution over sequences:

    score(y) = start[y_0] + sum_t P[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_{n-1}]
    log p(y) = score(y) - log Z,        log Z = logsumexp of score over all C^n sequences

log Z comes from the forward algorithm, the best sequence from Viterbi: each one loop over
time, vectorized over the batch and the tags, in core TensorFlow ops (tf.foldl / tf.scan,
gather, reduce_logsumexp), so an exported SavedModel runs in TF Serving with no custom ops.
"""

import keras
import numpy as np
import tensorflow as tf

# Added to a forbidden transition: exp(-10000) is 0 in the partition function and no
# allowed path loses to it, yet it stays finite (no inf - inf = nan in the loops).
FORBIDDEN = -10000.0


def _allowed(value, shape, name):
    """A constraint as a bool array of `shape` (None stays None); clear errors otherwise."""
    if value is None:
        return None
    try:
        array = np.asarray(value)
    except ValueError:                                   # ragged nested lists
        array = None
    if array is None or array.shape != shape or not np.isin(array, (0, 1)).all():
        raise ValueError(f"CRF: {name} must be a nested list of bools of shape {shape} "
                         f"(num_tags={shape[0]}); got {value!r}.")
    if not array.any():
        raise ValueError(f"CRF: {name} forbids everything, so no tag sequence is possible.")
    return array.astype(bool)


def _penalty(allowed, shape):
    """0 where allowed, FORBIDDEN where not: float32 constant of `shape`."""
    allowed = np.ones(shape, bool) if allowed is None else allowed
    return tf.constant(np.where(allowed, 0.0, FORBIDDEN), tf.float32)


@keras.saving.register_keras_serializable(package="tfbert")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over `num_tags` tags: `log_likelihood` to train, `decode` to tag.

    Weights (all start at zero): transitions [C, C] (score of tag i followed by tag j),
    start_transitions [C] and end_transitions [C]. `allowed_transitions` ([C][C]),
    `allowed_start` and `allowed_end` ([C]) are optional nested lists of bools that forbid
    impossible sequences (I-PER after O in IOB2): a forbidden one gets a constant FORBIDDEN
    added, in training and decoding alike, so it is never decoded and a gold sequence
    that uses one is heavily penalised.

    learning_rate_multiplier m: at BERT's learning rate (2e-5..5e-5) the transitions
    barely move from zero (bojone/bert4keras#144, BrikerMan/Kashgari#482). The layer
    stores v = w / m and uses w = m * v. The gradient of v is m times that of w, but an
    Adam-type optimizer's step is ~lr whatever the gradient's scale, so v moves ~lr per
    step and w moves ~m * lr: w learns m times faster. (Under plain SGD the factor would be
    m**2.) Weight decay: exclude `crf.weights` from it, e.g.
    `optimizer.exclude_from_weight_decay(var_list=crf.weights)`; this layer does not.

    It computes in float32 whatever the policy: its dtype defaults to "float32", float16 /
    bfloat16 potentials are cast up, and its weights are never autocast.

    Shapes: potentials [B, T, C] float, tags int [B, T], lengths int [B] with
    0 <= length <= T (clipped to that range). Positions t >= length are ignored (tags there
    may be anything, -1 included). B and T may be unknown when traced and 0 when run.
    """

    def __init__(self, num_tags, allowed_transitions=None, allowed_start=None,
                 allowed_end=None, learning_rate_multiplier=1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if isinstance(num_tags, bool) or int(num_tags) != num_tags or num_tags < 1:
            raise ValueError(f"CRF: num_tags must be a positive int; got {num_tags!r}.")
        if not learning_rate_multiplier > 0:
            raise ValueError("CRF: learning_rate_multiplier must be > 0; "
                             f"got {learning_rate_multiplier!r}.")
        self.num_tags = num_tags = int(num_tags)
        self.learning_rate_multiplier = float(learning_rate_multiplier)
        self._allowed_transitions = _allowed(allowed_transitions, (num_tags, num_tags),
                                             "allowed_transitions")
        self._allowed_start = _allowed(allowed_start, (num_tags,), "allowed_start")
        self._allowed_end = _allowed(allowed_end, (num_tags,), "allowed_end")
        # Shapes depend on num_tags alone, so the weights exist from the start; autocast=False
        # keeps their reads float32 even inside a mixed-precision call.
        add = lambda name, shape: self.add_weight(  # noqa: E731
            name=name, shape=shape, initializer="zeros", autocast=False)
        self.transitions_variable = add("transitions", (num_tags, num_tags))   # v = w / m
        self.start_variable = add("start_transitions", (num_tags,))
        self.end_variable = add("end_transitions", (num_tags,))
        self.built = True

    @property  # the effective weights w = m * v, float32, without the constraint penalties
    def transitions(self):
        return self.learning_rate_multiplier * tf.convert_to_tensor(self.transitions_variable)

    @property
    def start_transitions(self):
        return self.learning_rate_multiplier * tf.convert_to_tensor(self.start_variable)

    @property
    def end_transitions(self):
        return self.learning_rate_multiplier * tf.convert_to_tensor(self.end_variable)

    def _scores(self):
        """(transitions [C, C], start [C], end [C]) as the algorithms use them: w + penalty."""
        C = self.num_tags
        return (self.transitions + _penalty(self._allowed_transitions, (C, C)),
                self.start_transitions + _penalty(self._allowed_start, (C,)),
                self.end_transitions + _penalty(self._allowed_end, (C,)))

    def _prepare(self, potentials, lengths):
        """float32 potentials [B, T', C] zeroed where padded, lengths [B], mask bool [B, T'].

        T' = max(T, 2): the loops below run over t = 1 .. T'-1, at least once, because a
        loop that runs zero times cannot stack its outputs when B is unknown. The extra
        steps are padding, which changes nothing.
        """
        potentials = tf.cast(potentials, tf.float32)
        if potentials.shape[-1] not in (None, self.num_tags):
            raise ValueError(f"CRF: potentials have {potentials.shape[-1]} tags, "
                             f"not {self.num_tags}.")
        steps = tf.shape(potentials)[1]
        potentials = tf.pad(potentials, [[0, 0], [0, tf.maximum(2 - steps, 0)], [0, 0]])
        lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, steps)
        mask = tf.sequence_mask(lengths, tf.shape(potentials)[1])                # [B, T']
        # Zeroing (not just ignoring) padding keeps garbage there, even inf or nan,
        # out of the values and the gradients.
        return tf.where(mask[:, :, None], potentials, 0.0), lengths, mask

    def log_likelihood(self, potentials, tags, lengths):
        """log p(tags | potentials), float32 [B]; 0 for a row of length 0."""
        potentials, lengths, mask = self._prepare(potentials, lengths)
        tags = tf.cast(tags, tf.int32)
        tags = tf.pad(tags, [[0, 0], [0, tf.shape(mask)[1] - tf.shape(tags)[1]]])
        tags = tf.where(mask, tags, 0)                      # [B, T'], padding may hold -1
        return (self._sequence_score(potentials, tags, lengths, mask)
                - self._log_partition(potentials, lengths, mask))

    def _sequence_score(self, potentials, tags, lengths, mask):
        """score(tags), float32 [B]: the sum in the module docstring, padding masked out."""
        transitions, start, end = self._scores()
        mask = tf.cast(mask, tf.float32)                                         # [B, T']
        has_words = tf.cast(lengths > 0, tf.float32)                             # [B]
        unary = tf.gather(potentials, tags, batch_dims=2) * mask                 # [B, T']
        # trans[y_{t-1}, y_t] read from the flattened [C*C] matrix.
        pairs = tags[:, :-1] * self.num_tags + tags[:, 1:]                       # [B, T'-1]
        pairwise = tf.gather(tf.reshape(transitions, [-1]), pairs) * mask[:, 1:]
        last_tag = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)     # [B]
        return (tf.reduce_sum(unary, 1) + tf.reduce_sum(pairwise, 1)
                + (tf.gather(start, tags[:, 0]) + tf.gather(end, last_tag)) * has_words)

    def _log_partition(self, potentials, lengths, mask):
        """log Z, float32 [B], by the forward algorithm; 0 for a row of length 0."""
        transitions, start, end = self._scores()

        def step(alpha, inputs):
            # alpha [B, C]: log-sum-exp of the scores of all prefixes ending in each tag.
            unary, keep = inputs                                                 # [B, C], [B]
            # [B, C_prev, 1] + [C_prev, C] -> log-sum-exp over the previous tag -> [B, C]
            alpha_next = tf.reduce_logsumexp(alpha[:, :, None] + transitions, axis=1) + unary
            return tf.where(keep[:, None], alpha_next, alpha)   # padding leaves alpha as is

        time_major = (tf.transpose(potentials, [1, 0, 2])[1:], tf.transpose(mask)[1:])
        alpha = tf.foldl(step, time_major, initializer=start + potentials[:, 0])  # [B, C]
        return tf.where(lengths > 0, tf.reduce_logsumexp(alpha + end, axis=1), 0.0)

    def decode(self, potentials, lengths):
        """Viterbi: (best tags int32 [B, T], 0 where t >= length; their score float32 [B])."""
        steps = tf.shape(potentials)[1]
        potentials, lengths, mask = self._prepare(potentials, lengths)
        transitions, start, end = self._scores()
        identity = tf.range(self.num_tags)[None, :]                              # [1, C]

        def step(carry, inputs):
            # best [B, C]: the score of the best prefix ending in each tag.
            best, _ = carry
            unary, keep = inputs                                                 # [B, C], [B]
            candidates = best[:, :, None] + transitions                          # [B, C_prev, C]
            pointer = tf.argmax(candidates, axis=1, output_type=tf.int32)        # [B, C]
            best_next = tf.reduce_max(candidates, axis=1) + unary
            # Padding keeps the scores and points every tag at itself, so the walk
            # back passes through it unchanged to the last real word.
            keep = keep[:, None]
            return tf.where(keep, best_next, best), tf.where(keep, pointer, identity)

        first = start + potentials[:, 0]                                         # [B, C]
        time_major = (tf.transpose(potentials, [1, 0, 2])[1:], tf.transpose(mask)[1:])
        bests, pointers = tf.scan(step, time_major,
                                  initializer=(first, tf.zeros_like(first, tf.int32)))
        final = bests[-1] + end                                                  # [B, C]
        last_tag = tf.argmax(final, axis=1, output_type=tf.int32)                # [B]
        # Walk back: tag_t = pointers[t][tag_{t+1}] (pointers[t] leads into step t + 1).
        earlier = tf.scan(lambda tag, pointer: tf.gather(pointer, tag, batch_dims=1),
                          pointers, initializer=last_tag, reverse=True)          # [T'-1, B]
        tags = tf.transpose(tf.concat([earlier, last_tag[None]], axis=0))        # [B, T']
        tags = tf.where(mask, tags, 0)[:, :steps]                                # [B, T]
        return tags, tf.where(lengths > 0, tf.reduce_max(final, axis=1), 0.0)

    def call(self, potentials, lengths):
        return self.decode(potentials, lengths)[0]

    def get_config(self):
        config = super().get_config()
        plain = lambda allowed: None if allowed is None else allowed.tolist()  # noqa: E731
        config.update(
            num_tags=self.num_tags,
            allowed_transitions=plain(self._allowed_transitions),
            allowed_start=plain(self._allowed_start),
            allowed_end=plain(self._allowed_end),
            learning_rate_multiplier=self.learning_rate_multiplier,
        )
        return config


class CRFLoss(keras.losses.Loss):
    """Negative log-likelihood of the gold tags per word: compile(loss=CRFLoss(crf)).

    y_true: tag ids int [B, T], padded at the end with -1 (a row's length is its count of
    ids >= 0); y_pred: the potentials [B, T, C]. call() returns each row's NLL divided by
    the batch's total number of words, [B], and the reduction is "sum", so the loss is
    total NLL / total words: the scale of a token cross-entropy, with every word weighing
    the same however the words are spread over rows ("sum_over_batch_size" would divide
    by B again). Under tf.distribute each replica divides by its own word count. The
    CRF's weights train only if the model tracks the layer (it is in the model, or an
    attribute of it).

    Not serializable: it holds a live layer, which a config cannot carry. get_config
    raises NotImplementedError, so saving a model compiled with it fails at once rather
    than writing a file that cannot be loaded; tfbert's tasks save no compile config.
    """

    def __init__(self, crf, name="crf_loss"):
        super().__init__(name=name, reduction="sum")
        self.crf = crf

    def call(self, y_true, y_pred):
        tags = tf.cast(y_true, tf.int32)                # Keras hands y_true over as float32
        lengths = tf.reduce_sum(tf.cast(tags >= 0, tf.int32), axis=1)            # [B]
        words = tf.maximum(tf.cast(tf.reduce_sum(lengths), tf.float32), 1.0)
        return -self.crf.log_likelihood(y_pred, tags, lengths) / words            # [B]

    def get_config(self):
        raise NotImplementedError(
            "CRFLoss holds its CRF layer and cannot be serialized; compile the model "
            "again with CRFLoss(crf) after loading it (or save it uncompiled).")
