"""Masked-LM masking: BERT's 15 % with 80/10/10, never a special token, new masks
every batch and epoch, the same masks for the same (seed, batch)."""

import numpy as np
import tensorflow as tf

from tfbert.data.masking import IGNORED_LABEL, batch_seed, mask_tokens, maskable_positions

CLS, SEP, PAD, MASK, VOCAB = 101, 102, 0, 103, 30522


def packed_batch(rng, rows, width=128):
    """[CLS] tokens [SEP] (padding), rows of random length, token ids that avoid the
    special ids (so a kept token and a random one can be told from [MASK])."""
    lengths = rng.integers(3, width + 1, rows)
    ids = np.full([rows, width], PAD, np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1000, VOCAB, length)
        ids[row, 0], ids[row, length - 1] = CLS, SEP
    return ids, (ids != PAD).astype(np.int32)


def masked(ids, mask, seed):
    maskable = maskable_positions(ids, mask, [CLS, SEP, PAD])
    out, labels = mask_tokens(ids, maskable, seed, VOCAB, MASK)
    return maskable.numpy(), out.numpy(), labels.numpy()


def test_masking_statistics_over_a_million_tokens():
    rng = np.random.default_rng(0)
    counts = dict(maskable=0, selected=0, masked=0, random=0, kept=0, special_selected=0)
    rows_without_selection = 0
    for batch in range(9):  # 9 batches of 2000 rows: about 1.1 M maskable tokens
        ids, mask = packed_batch(rng, rows=2000)
        maskable, out, labels = masked(ids, mask, batch_seed(7, batch))
        selected = labels != IGNORED_LABEL
        assert np.array_equal(labels[selected], ids[selected])  # the label is the original
        assert np.array_equal(out[~selected], ids[~selected])  # nothing else changes
        counts["special_selected"] += int((selected & ~maskable).sum())
        counts["maskable"] += int(maskable.sum())
        counts["selected"] += int(selected.sum())
        counts["masked"] += int((out[selected] == MASK).sum())
        counts["kept"] += int((out[selected] == ids[selected]).sum())
        counts["random"] += int(((out[selected] != MASK) & (out[selected] != ids[selected])).sum())
        rows_without_selection += int((selected.sum(1) == 0).sum())
    assert counts["maskable"] > 1_000_000
    assert counts["special_selected"] == 0  # [CLS], [SEP] and padding never
    assert rows_without_selection == 0  # at least one per sequence
    share = counts["selected"] / counts["maskable"]
    assert abs(share - 0.15) <= 0.003, share
    for kind, expected in (("masked", 0.8), ("random", 0.1), ("kept", 0.1)):
        # A random token equal to the original (1 in 30k) counts as kept: well inside.
        assert abs(counts[kind] / counts["selected"] - expected) <= 0.01, (kind, counts)


def test_each_row_gets_round_of_fifteen_percent_and_at_least_one():
    ids = np.array([[CLS] + [2000 + i for i in range(n)] + [SEP] + [PAD] * (40 - n)
                    for n in (1, 2, 7, 10, 20, 24, 38)], np.int32)
    _, _, labels = masked(ids, (ids != PAD).astype(np.int32), batch_seed(0, 0))
    assert list((labels != IGNORED_LABEL).sum(1)) == [1, 1, 1, 2, 3, 4, 6]


def test_masks_differ_between_batches_and_repeat_for_the_same_seed():
    ids, mask = packed_batch(np.random.default_rng(1), rows=64)
    _, first, labels_first = masked(ids, mask, batch_seed(0, 3))
    _, again, labels_again = masked(ids, mask, batch_seed(0, 3))
    _, other, labels_other = masked(ids, mask, batch_seed(0, 3 + 100))  # a later epoch
    assert np.array_equal(first, again) and np.array_equal(labels_first, labels_again)
    assert not np.array_equal(labels_first != IGNORED_LABEL, labels_other != IGNORED_LABEL)


def test_rows_of_the_same_length_get_different_masks():
    ids = np.tile(np.array([[CLS] + list(range(2000, 2060)) + [SEP]], np.int32), [8, 1])
    _, _, labels = masked(ids, np.ones_like(ids), batch_seed(0, 0))
    selections = {tuple(np.flatnonzero(row != IGNORED_LABEL)) for row in labels}
    assert len(selections) == 8


def test_a_row_with_nothing_to_mask_is_left_alone():
    ids = np.array([[CLS, SEP, PAD, PAD]], np.int32)
    _, out, labels = masked(ids, (ids != PAD).astype(np.int32), batch_seed(0, 0))
    assert np.array_equal(out, ids) and (labels == IGNORED_LABEL).all()


def test_masking_runs_inside_tf_data_with_a_seed_per_batch():
    ids, mask = packed_batch(np.random.default_rng(2), rows=32, width=16)
    batches = tf.data.Dataset.from_tensors((ids, mask)).repeat(2).enumerate()
    maskable = lambda i, m: maskable_positions(i, m, [CLS, SEP, PAD])
    out = [labels.numpy() for _, labels in batches.map(
        lambda n, x: mask_tokens(x[0], maskable(*x), batch_seed(5, n), VOCAB, MASK))]
    assert not np.array_equal(out[0], out[1])  # epoch 2 of the same rows: new masks


def test_whole_word_masking_selects_every_piece_of_a_word_or_none():
    rng = np.random.default_rng(3)
    ids, mask = packed_batch(rng, rows=2000)
    # Words of 1 to 3 pieces: a piece continues the word before it 40 % of the time.
    starts = (rng.random(ids.shape) > 0.4) | (ids == CLS) | (ids == SEP) | (ids == PAD)
    starts[:, 1] = True  # the first piece after [CLS] begins a word
    maskable = maskable_positions(ids, mask, [CLS, SEP, PAD])
    out, labels = mask_tokens(ids, maskable, batch_seed(0, 0), VOCAB, MASK, word_starts=starts)
    selected, maskable = labels.numpy() != IGNORED_LABEL, maskable.numpy()
    word = np.cumsum(starts, axis=1)
    for row in range(len(ids)):
        chosen = set(word[row][selected[row]])
        partly = [w for w in chosen if not selected[row][(word[row] == w) & maskable[row]].all()]
        assert not partly, (row, partly)
    assert (selected.sum(1)[maskable.sum(1) > 0] >= 1).all()
    share = selected.sum() / maskable.sum()
    assert 0.13 < share <= 0.155, share  # whole words fill up to round(15 %), rarely over
    assert not (selected & ~maskable).any()
