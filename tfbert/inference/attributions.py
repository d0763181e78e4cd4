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

    Returns (attributions [T], F(x), F(x')) as float32 tensors. TF ops only: the same
    function runs eagerly (`tfbert explain`) and inside an export's `explain` signature."""
    if steps < 1:
        raise ValueError(f"steps must be 1 or more, got {steps}.")
    x = tf.cast(token_vectors, tf.float32)
    x0 = tf.cast(baseline_vectors, tf.float32)
    alphas, weights = quadrature(steps)
    difference = x - x0                                                       # [T, H]
    average_gradient = tf.zeros_like(difference)                              # [T, H]
    for start in range(0, steps, POINTS_PER_CALL):
        a = tf.constant(alphas[start:start + POINTS_PER_CALL], tf.float32)   # [p]
        path = x0[None] + a[:, None, None] * difference[None]                 # [p, T, H]
        with tf.GradientTape() as tape:
            tape.watch(path)
            values = output_of(path)                                          # [p]
        gradients = tape.gradient(values, path)                               # [p, T, H]
        w = tf.constant(weights[start:start + POINTS_PER_CALL], tf.float32)  # [p]
        average_gradient += tf.tensordot(w, gradients, 1)
    attributions = tf.reduce_sum(difference * average_gradient, axis=-1)     # [T]
    ends = output_of(tf.stack([x, x0]))                                       # F(x), F(x')
    return attributions, ends[0], ends[1]


def baseline_id(tokenizer, baseline):
    """The token id the baseline puts in place of each word piece; None for "zero"."""
    if baseline not in BASELINES:
        raise ValueError(f"baseline {baseline!r} is not one of: {', '.join(BASELINES)}.")
    if baseline == "zero":
        return None
    if baseline == "pad":
        return tokenizer.pad_id
    try:
        return tokenizer.vocabulary.index("[MASK]")
    except ValueError:
        raise ValueError("the baseline 'mask' needs [MASK] in the vocabulary, which this "
                         "model's has not; use 'pad' or 'zero'.") from None


def word_attributions(task, texts, text_pairs=None, targets=None, steps=DEFAULT_STEPS,
                      baseline="pad"):
    """Integrated gradients of each text's answer, summed per word, in TF ops.

    task: a task with `explained_output` (a pooled classifier or regressor).
    texts (and text_pairs): tf.string [B]. targets: int32 [B], the label each row's
    probability is explained for (a classifier's answer); None for a regressor.
    A text is split into words as `BertTokenizer.split_words_with_offsets` splits it,
    and the word pieces of its words are what the model reads (the pieces `tokenize`
    gives the whole text); a word's attribution is the sum of its pieces'.

    Returns a dict of RaggedTensors [B, (words)], the words of the text then those of
    its pair: "word" (tf.string, as written), "word_begin" / "word_end" (int64 UTF-8
    byte offsets into its text), "word_text" (int32: 0 the text, 1 the pair),
    "word_attribution" (float32; NaN for a word past max_length, which the model never
    saw; 0 for a word of only removed characters); and float32 [B] "output" and
    "baseline_output", F(text) and F(baseline).
    """
    if steps < 1:
        raise ValueError(f"steps must be 1 or more, got {steps}.")
    if task.packer is not task.tokenizer:  # its answer reads windows this would not
        raise ValueError('explanations of a long_text = "windows" task are not supported yet.')
    tokenizer = task.tokenizer
    replace_with = baseline_id(tokenizer, baseline)
    embedding = task.encoder.get_layer("embeddings").token_embedding
    parts = [texts] if text_pairs is None else [texts, text_pairs]
    split = [tokenizer.split_words_with_offsets(part) for part in parts]   # ([B, (W)],) * 3
    pieces = [tokenizer.tokenize_words(words) for words, _, _ in split]    # [B, (W), (P)]
    features = tokenizer.pack(*[p.merge_dims(1, 2) for p in pieces])       # [B, T]
    count = tf.shape(features["input_ids"])[0]
    # Per position of the packed rows: its word's index among the row's words (those
    # of the text, then those of the pair), -1 at [CLS], [SEP] and padding.
    position_word = _position_words(pieces, features)                      # [B, T]
    word_counts = tf.add_n([tf.cast(p.row_lengths(), tf.int32) for p in pieces])  # [B]
    explains_a_label = targets is not None
    targets = tf.zeros([count], tf.int32) if targets is None else tf.cast(targets, tf.int32)

    def explain_row(row):
        ids = features["input_ids"][row]                                   # [T]
        segment_ids = features["segment_ids"][row][None]                   # [1, T]
        input_mask = features["input_mask"][row][None]
        at_word = position_word[row] >= 0                                  # [T]
        vectors = embedding(ids)                                           # [T, H]
        if replace_with is None:
            baseline_vectors = tf.where(at_word[:, None], tf.zeros_like(vectors), vectors)
        else:
            baseline_vectors = embedding(tf.where(at_word, replace_with, ids))
        target = targets[row] if explains_a_label else None

        def output_of(path):
            n = tf.shape(path)[0]
            return task.explained_output(path, tf.repeat(segment_ids, n, axis=0),
                                         tf.repeat(input_mask, n, axis=0), target)

        attributions, output, at_baseline = integrated_gradients(
            output_of, vectors, baseline_vectors, steps)
        words = word_counts[row]
        # Summed per word: positions that are no word add into a slot dropped after.
        slots = tf.where(at_word, position_word[row], words)
        sums = tf.math.unsorted_segment_sum(attributions, slots, words + 1)[:words]
        return sums, output, at_baseline

    sums, outputs, at_baselines = tf.map_fn(
        explain_row, tf.range(count),
        fn_output_signature=(tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
                             tf.float32, tf.float32))
    # Words the model never saw (cut off by max_length): NaN. A part's words up to the
    # last one any position holds were seen (a word without pieces among them too).
    seen_until = [_last_word_seen(position_word, features, index, pieces) for index in range(len(parts))]
    seen = tf.concat([tf.ragged.range(tf.cast(p.row_lengths(), tf.int32)) <= last[:, None]
                      for p, last in zip(pieces, seen_until)], axis=1)
    word_attribution = tf.ragged.map_flat_values(
        lambda values, keep: tf.where(keep, values, float("nan")), sums, seen)
    return {
        "word": tf.concat([words for words, _, _ in split], axis=1),
        "word_begin": tf.concat([begins for _, begins, _ in split], axis=1),
        "word_end": tf.concat([ends for _, _, ends in split], axis=1),
        "word_text": tf.concat([tf.ragged.map_flat_values(lambda w, i=index: tf.fill(tf.shape(w), i), words)
                                for index, (words, _, _) in enumerate(split)], axis=1),
        "word_attribution": word_attribution,
        "output": outputs,
        "baseline_output": at_baselines,
    }


def _position_words(pieces, features):
    """int32 [B, T]: the row's word index (the text's words, then the pair's) of each
    packed position, -1 where there is no word piece. Pack keeps each part's first
    pieces: the text's at positions 1.., the pair's after the first [SEP]."""
    mask, segments = features["input_mask"], features["segment_ids"]
    width = tf.shape(mask)[1]
    positions = tf.range(width)[None, :]                                     # [1, T]
    result = -tf.ones_like(mask)
    first_words = 0
    for index, part in enumerate(pieces):
        # Each piece's word index within its row: [B, (P)].
        word = part.values.value_rowids()                                   # [pieces]: global
        first_word_of_row = tf.gather(part.row_splits, part.value_rowids())  # [words]
        word_of_piece = tf.RaggedTensor.from_row_splits(
            tf.cast(word - tf.gather(first_word_of_row, word), tf.int32),
            tf.gather(part.values.row_splits, part.row_splits))             # [B, (P)]: in row
        in_part = tf.cast(tf.logical_and(mask > 0, tf.equal(segments, index)), tf.int32)
        kept = tf.reduce_sum(in_part, axis=1) - (2 if index == 0 else 1)    # [B]: pieces kept
        # The text's pieces start after [CLS]; the pair's after the text's [SEP].
        start = 1 if index == 0 else tf.reduce_sum(
            tf.cast(tf.logical_and(mask > 0, tf.equal(segments, 0)), tf.int32), axis=1)[:, None]
        dense = word_of_piece.to_tensor(default_value=-1)                   # [B, Pmax]
        offset = tf.broadcast_to(positions - start, tf.shape(mask))           # [B, T]
        inside = tf.logical_and(offset >= 0, offset < kept[:, None])
        gathered = tf.gather(tf.pad(dense, [[0, 0], [0, 1]], constant_values=-1),
                             tf.clip_by_value(offset, 0, tf.shape(dense)[1]), axis=1, batch_dims=1)
        result = tf.where(inside, gathered + first_words, result)
        first_words = first_words + tf.cast(part.row_lengths(), tf.int32)[:, None]
    return result


def _last_word_seen(position_word, features, index, pieces):
    """int32 [B]: the index (within its part) of the part's last word any position
    holds; a part's words up to it were seen. -1 if none."""
    offset = 0 if index == 0 else tf.cast(pieces[0].row_lengths(), tf.int32)[:, None]
    in_part = tf.logical_and(position_word >= 0, tf.equal(features["segment_ids"], index))
    local = tf.where(in_part, position_word - offset, -1)
    return tf.reduce_max(local, axis=1)
