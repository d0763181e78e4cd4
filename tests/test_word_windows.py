"""word_windows / answered: cutting sentences of words into windows of pieces, checked
against a plain-Python reading of the docstring on many random batches."""

import numpy as np
import pytest
import tensorflow as tf

from tfbert.data.word_windows import answered, word_windows


def random_batch(rng, max_sentences=6, max_words=12, max_pieces=4, empty_share=0.2):
    """Sentences of words, each word a list of >= 1 distinct piece ids (so a piece
    says which sentence, word and position it is)."""
    sentences = []
    next_id = 1
    for _ in range(int(rng.integers(0, max_sentences + 1))):
        words = []
        if rng.random() >= empty_share:
            for _ in range(int(rng.integers(1, max_words + 1))):
                count = int(rng.integers(1, max_pieces + 1))
                words.append(list(range(next_id, next_id + count)))
                next_id += count
        sentences.append(words)
    return sentences


def as_ragged(sentences):
    return tf.RaggedTensor.from_nested_row_lengths(
        tf.constant([p for words in sentences for word in words for p in word], tf.int32),
        [tf.constant([len(words) for words in sentences], tf.int64),
         tf.constant([len(word) for words in sentences for word in words], tf.int64)])


def expected_windows(sentences, window, stride):
    """The docstring, read literally: [(sentence, start, end, answer_from, answer_to)]."""
    result = []
    for s, words in enumerate(sentences):
        total = sum(len(word) for word in words)
        extra = max(total - window, 0)
        count = 1 + -(-extra // stride)
        bounds = []
        for j in range(count):
            start = min(j * stride, extra)
            bounds.append((start, min(start + window, total)))
        for j, (start, end) in enumerate(bounds):
            answer_from = 0 if j == 0 else (start + bounds[j - 1][1]) // 2
            answer_to = np.inf if j == count - 1 else (bounds[j + 1][0] + end) // 2
            result.append((s, start, end, answer_from, answer_to))
    return result


def first_pieces(words):
    firsts, position = [], 0
    for word in words:
        firsts.append(position)
        position += len(word)
    return firsts


def check_windows(sentences, window, stride):
    windows = word_windows(as_ragged(sentences), window, stride)
    got = {key: value.to_list() if isinstance(value, tf.RaggedTensor) else value.numpy().tolist()
           for key, value in windows.items()}
    expected = expected_windows(sentences, window, stride)
    assert got["sentence"] == [s for s, *_ in expected]
    assert len(got["piece_ids"]) == len(expected)
    for n, (s, start, end, answer_from, answer_to) in enumerate(expected):
        words = sentences[s]
        flat = [p for word in words for p in word]
        pieces = got["piece_ids"][n]
        assert len(pieces) <= window
        assert pieces == flat[start:end], (n, start, end)
        firsts = first_pieces(words)
        inside = [k for k, first in enumerate(firsts) if start <= first < end]
        assert got["word_index"][n] == inside
        for k, word_start in zip(got["word_index"][n], got["word_starts"][n]):
            # The word's first piece is where word_starts says it is.
            assert pieces[word_start] == words[k][0]
            assert word_start == firsts[k] - start
        assert got["answers"][n] == [answer_from <= firsts[k] < answer_to for k in inside]
    # Every word of every sentence is answered exactly once, in order.
    merged = answered(windows["word_index"], windows, len(sentences)).to_list()
    assert merged == [list(range(len(words))) for words in sentences]
    count = np.zeros(sum(len(words) for words in sentences), int)
    offsets = np.cumsum([0] + [len(words) for words in sentences])
    for n, s in enumerate(got["sentence"]):
        for k, answers in zip(got["word_index"][n], got["answers"][n]):
            count[offsets[s] + k] += answers
    assert (count == 1).all()
    return windows


@pytest.mark.parametrize("window, stride", [(1, 1), (3, 1), (5, 2), (6, 6), (16, 5)])
def test_random_batches_match_the_docstring(window, stride):
    for seed in range(10):  # eager: ~0.1 s a call, less than tracing a graph
        rng = np.random.default_rng(seed * 1000 + window * 17 + stride)
        check_windows(random_batch(rng, max_sentences=16), window, stride)


def test_windows_of_long_sentences_overlap_and_cover_everything():
    rng = np.random.default_rng(7)
    sentences = random_batch(rng, max_sentences=4, max_words=40, max_pieces=3, empty_share=0.0)
    sentences.append([[100 + i] for i in range(30)])  # one piece per word: 30 pieces
    windows = check_windows(sentences, window=8, stride=4)
    last = windows["sentence"].numpy() == len(sentences) - 1
    # 30 pieces in windows of 8, 4 apart: starts 0, 4, ..., 20, and the last at 22.
    starts = [row[0] - 100 for row in windows["piece_ids"].to_list()[-int(last.sum()):]]
    assert starts == [0, 4, 8, 12, 16, 20, 22]


def test_a_word_longer_than_the_window():
    sentences = [[[1], list(range(2, 12)), [12], [13, 14]]]  # a word of 10 pieces, window 4
    windows = check_windows(sentences, window=4, stride=2)
    assert max(windows["piece_ids"].row_lengths().numpy()) == 4


def test_empty_sentences_and_all_empty_batches():
    windows = check_windows([[], [[1, 2]], [], [[3]]], window=4, stride=2)
    # An empty sentence has one empty window.
    assert windows["sentence"].numpy().tolist() == [0, 1, 2, 3]
    assert windows["piece_ids"].to_list()[0] == [] and windows["word_index"].to_list()[2] == []
    for batch in ([[]], [[], [], []]):
        windows = check_windows(batch, window=3, stride=1)
        assert windows["sentence"].numpy().tolist() == list(range(len(batch)))
        assert answered(windows["word_index"], windows, len(batch)).to_list() == batch


def test_a_batch_of_no_sentences():
    """What a served request of 0 texts meets (searchsorted on a [0, 0] tensor failed)."""
    windows = check_windows([], window=3, stride=1)
    assert windows["sentence"].shape == (0,) and windows["piece_ids"].nrows() == 0


def test_answered_takes_dense_padded_values():
    sentences = [[[1], [2, 3], [4]] * 4, [[5]], []]
    windows = word_windows(as_ragged(sentences), 5, 2)
    ragged = windows["word_index"] * 10 + 1
    dense = ragged.to_tensor(-7)
    assert answered(dense, windows, 3).to_list() == answered(ragged, windows, 3).to_list() == [
        [k * 10 + 1 for k in range(12)], [1], []]


@pytest.mark.parametrize("stride", [0, -1, 5])
def test_bad_stride(stride):
    with pytest.raises(ValueError, match=rf"stride must be in \[1, window=4\], got {stride}"):
        word_windows(as_ragged([[[1]]]), 4, stride)


def test_inside_a_tf_function_with_unknown_shapes():
    spec = tf.RaggedTensorSpec([None, None, None], tf.int32, ragged_rank=2)

    @tf.function(input_signature=[spec])
    def windows_of(pieces):
        windows = word_windows(pieces, 4, 3)
        return windows, answered(windows["word_index"], windows, pieces.nrows())

    for seed in range(6):
        sentences = random_batch(np.random.default_rng(seed)) if seed else []
        (graph, merged) = windows_of(as_ragged(sentences))
        eager = word_windows(as_ragged(sentences), 4, 3)
        for key in eager:
            a, b = graph[key], eager[key]
            to_list = lambda t: t.to_list() if isinstance(t, tf.RaggedTensor) else t.numpy().tolist()
            assert to_list(a) == to_list(b), key
        assert merged.to_list() == [list(range(len(words))) for words in sentences]
    assert windows_of.experimental_get_tracing_count() == 1  # one graph for every batch


# The tagging pipeline around word_windows ---------------------------------------------

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "alice", "lives", "in", "paris", "lon",
         "##don", "new", "york", ".", "北", "京"]


def tagger_tokenizer(max_length=6):
    from tfbert import BertTokenizer

    return BertTokenizer(VOCAB, max_length=max_length)


def test_word_pieces_of_gives_every_word_a_piece():
    from tfbert.data.tagged_pipeline import word_pieces_of

    tokenizer = tagger_tokenizer()
    words = tf.ragged.constant([["Alice", "\u200b", "london", "xyzzy", "a\x00."], [], ["北京"]])
    ids = {token: i for i, token in enumerate(VOCAB)}
    assert word_pieces_of(tokenizer, words).to_list() == [
        [[ids["alice"]], [ids["[UNK]"]], [ids["lon"], ids["##don"]], [ids["[UNK]"]],
         [ids["[UNK]"], ids["."]]], [], [[ids["北"], ids["京"]]]]


def test_tokenize_words_in_batches(monkeypatch):
    from tfbert.data import tagged_pipeline

    tokenizer = tagger_tokenizer()
    sentences = [["alice", "lives"], ["in"], ["london", "."], ["paris"], ["new", "york"]]
    whole = tagged_pipeline.tokenize_words(tokenizer, sentences).to_list()
    monkeypatch.setattr(tagged_pipeline, "TOKENIZE_BATCH", 2)
    assert tagged_pipeline.tokenize_words(tokenizer, sentences).to_list() == whole
    assert whole[2] == [[9, 10], [13]]
    empty = tagged_pipeline.tokenize_words(tokenizer, [])
    assert empty.shape.rank == 3 and empty.nrows() == 0 and empty.dtype == tf.int32


def test_tokenize_tagged_windows_features_and_targets():
    from tfbert.data.tagged_pipeline import tokenize_tagged
    from tfbert.data.tagged_readers import TaggedExamples

    tokenizer = tagger_tokenizer(max_length=6)  # windows of 4 pieces, 2 apart
    words = [["alice", "lives", "in", "london", "new", "york", "."], ["paris"]]
    examples = TaggedExamples.given(words)
    tag_ids = tf.ragged.constant([[3, 0, 0, 1, 1, 2, 0], [1]], dtype=tf.int32)
    data = tokenize_tagged(tokenizer, examples, {"tag_ids": tag_ids})
    # 8 pieces: windows [0, 4), [2, 6), [4, 8); "paris": one window.
    assert data.windows["sentence"].numpy().tolist() == [0, 0, 0, 1]
    assert data.lengths.tolist() == [6, 6, 6, 3] and len(data) == 4 and data.num_sentences == 2
    batches = data.plan(batch_size=4, shuffle=False)
    seen = []
    for features, targets in data.dataset(tokenizer, batches, lambda f, t: (f, t)):
        ids, starts, mask = (features[k].numpy() for k in ("input_ids", "word_starts", "word_mask"))
        tags = targets["tag_ids"].numpy()
        assert tags.shape == starts.shape == mask.shape
        for row in range(len(ids)):
            n = int(mask[row].sum())
            assert ids[row][0] == tokenizer.cls_id
            assert ids[row][int(features["input_mask"].numpy()[row].sum()) - 1] == tokenizer.sep_id
            assert (tags[row][n:] == -1).all() and (mask[row][n:] == 0).all()
            # Each word's tag sits where its first piece is.
            seen.append([(VOCAB[ids[row][s]], int(t)) for s, t in zip(starts[row][:n], tags[row][:n])])
    assert sorted(seen) == sorted([
        [("alice", 3), ("lives", 0), ("in", 0), ("lon", 1)],  # london starts at piece 3
        [("in", 0), ("lon", 1), ("new", 1)],
        [("new", 1), ("york", 2), (".", 0)],
        [("paris", 1)]])
