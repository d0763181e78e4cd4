"""Long texts read in overlapping windows (`long_text = "windows"`): every piece of a
text reaches the encoder, and a text's windows are combined into one answer, in
training, evaluation, predict and the served signature alike.

Bad input tried: long_text "window", window_combine "sum", window_stride 0 and one
past the window, windows on a pair task, an XLA export of a windows model, the same
through a recipe (errors name the key).
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from tfbert.data.text_windows import TextWindows, window_ranges
from tfbert.export import export_for_serving
from tfbert.recipe import RecipeError, load_recipe
from tfbert.tasks import TextClassifier, TextRegressor
from tiny_models import VOCAB, assert_rows_match, spread, tiny

SENTIMENT = ROOT / "recipes" / "sentiment.toml"
FILLER = "the movie was a film is very plot fare flight weather not".split()


def ranges(counts, window, stride):
    starts, ends, per_text = window_ranges(tf.constant(counts, tf.int32), window, stride)
    return starts.numpy().tolist(), ends.numpy().tolist(), per_text.numpy().tolist()


def test_window_ranges_by_hand():
    starts, ends, per_text = ranges([0, 5, 10, 11, 25], window=10, stride=5)
    assert per_text == [1, 1, 1, 2, 4]
    assert list(zip(starts, ends)) == [(0, 0), (0, 5), (0, 10), (0, 10), (1, 11),
                                       (0, 10), (5, 15), (10, 20), (15, 25)]


@pytest.mark.parametrize("window, stride", [(1, 1), (7, 3), (10, 10), (12, 5)])
def test_windows_cover_every_piece_within_the_window_and_stride(window, stride):
    counts = list(range(0, 60))
    starts, ends, per_text = ranges(counts, window, stride)
    first = np.cumsum([0] + per_text[:-1])
    for count, start_at, n in zip(counts, first, per_text):
        spans = list(zip(starts[start_at:start_at + n], ends[start_at:start_at + n]))
        assert spans[0][0] == 0 and spans[-1][1] == count          # from the start to the end
        assert all(end - start == min(window, count) for start, end in spans)
        assert all(0 < b[0] - a[0] <= stride for a, b in zip(spans, spans[1:]))  # no gap
        assert n == 1 or count > window


def test_packed_windows_hold_the_text_and_a_short_text_packs_as_before():
    _, tokenizer = tiny(max_length=8)
    windows = TextWindows(tokenizer, stride=3)                             # windows of 6 pieces
    texts = ["good movie", " ".join(WORDS_OF_TEN)]
    features = windows.pack(tokenizer.tokenize(tf.constant(texts)))
    ids, mask = features["input_ids"].numpy(), features["input_mask"].numpy()
    assert ids.shape == (2, 3, 8)                                          # 10 pieces: 3 windows
    plain = tokenizer(["good movie"])
    np.testing.assert_array_equal(ids[0, 0, :4], plain["input_ids"][0])
    assert mask[0, 1:].sum() == 0                                          # padding windows
    vocab = np.array(VOCAB)
    words = [vocab[row[mask_row > 0]][1:-1].tolist() for row, mask_row in zip(ids[1], mask[1])]
    assert words == [WORDS_OF_TEN[0:6], WORDS_OF_TEN[3:9], WORDS_OF_TEN[4:10]]
    assert all(vocab[row[0]] == "[CLS]" for row in ids[1])


WORDS_OF_TEN = "good great fine bad awful poor movie film plot the".split()


def windowed(model_class=TextClassifier, combine="mean", stride=3, **kwargs):
    """A spread tiny model reading windows of 6 pieces, and the same weights truncating."""
    encoder, tokenizer = tiny(max_length=8)
    args = ((["neg", "pos", "mixed"],) if model_class is TextClassifier else ())
    model = spread(model_class(encoder, tokenizer, *args, long_text="windows", window_stride=stride,
                               window_combine=combine, head="mean", **kwargs))
    truncating = model_class.from_config({**model.get_config(), "long_text": "truncate"})
    truncating.set_weights(model.get_weights())
    return model, truncating


@pytest.mark.parametrize("combine", ["mean", "max"])
def test_a_long_text_is_answered_from_all_its_windows(combine):
    model, truncating = windowed(combine=combine)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS_OF_TEN, size=n)) for n in (2, 6, 7, 13, 20, 9)]
    logits = model.predict(texts, batch_size=4)["logits"]
    for text, row in zip(texts, logits):
        pieces = text.split()
        starts, ends, _ = ranges([len(pieces)], window=6, stride=3)
        each = truncating.predict([" ".join(pieces[s:e]) for s, e in zip(starts, ends)])["logits"]
        expected = each.mean(axis=0) if combine == "mean" else each.max(axis=0)
        np.testing.assert_allclose(row, expected, atol=1e-5)
    # Short texts answer as the truncating model; long ones do not.
    short = truncating.predict(texts[:2])["logits"]
    assert_rows_match(logits[:2], short)
    assert np.abs(logits[3:5] - truncating.predict(texts[3:5])["logits"]).max() > 1e-3


def test_a_text_is_read_in_at_most_max_windows_windows():
    starts, ends, per_text = ranges([20, 5], window=6, stride=3)
    assert per_text == [6, 1]
    capped = window_ranges(tf.constant([20, 5]), 6, 3, max_windows=2)
    assert list(zip(capped[0].numpy(), capped[1].numpy())) == [(0, 6), (3, 9), (0, 5)]
    model, truncating = windowed(model_class=TextRegressor, pair=False, max_windows=2)  # a regressor
    text = " ".join((WORDS_OF_TEN * 2)[:20])
    first_two = truncating.predict([" ".join((WORDS_OF_TEN * 2)[s:e]) for s, e in [(0, 6), (3, 9)]])
    np.testing.assert_allclose(model.predict([text])["score"][0], first_two["score"].mean(), atol=1e-5)
    with pytest.raises(ValueError, match="max_windows must be at least 1, got 0"):
        windowed(max_windows=0)


def test_attention_weighs_the_windows_pooled_vectors():
    encoder, tokenizer = tiny(max_length=8)
    model = spread(TextClassifier(encoder, tokenizer, ["neg", "pos", "mixed"], long_text="windows",
                                  window_stride=3, window_combine="attention", head="mean"))
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(WORDS_OF_TEN, size=n)) for n in (3, 13, 20)]
    logits = model.predict(texts)["logits"]
    for text, row in zip(texts, logits):
        pieces = text.split()
        starts, ends, _ = ranges([len(pieces)], window=6, stride=3)
        windows = tokenizer([" ".join(pieces[s:e]) for s, e in zip(starts, ends)])
        pooled = model.head.pool(model.encoder(windows), windows["input_mask"]).numpy()  # [W, H]
        kernel, bias = (w.numpy() for w in model.window_attention.weights)
        scores = pooled @ kernel[:, 0] + bias[0]
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        expected = model.head.output_dense((weights[:, None] * pooled).sum(0)[None]).numpy()[0]
        np.testing.assert_allclose(row, expected, atol=1e-5)
    again = TextClassifier.from_config(model.get_config())  # the scorer is built and saved
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(texts)["logits"], logits, atol=1e-6)


def test_training_reads_what_only_the_end_of_a_long_text_says():
    """The label is the last word, past what a truncating model reads: windows learn it."""
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(160):
        label = ["neg", "pos"][i % 2]
        filler = " ".join(rng.choice(FILLER, size=int(rng.integers(8, 14))))
        texts.append(f"{filler} {'good' if label == 'pos' else 'bad'}")
        labels.append(label)
    accuracy = {}
    for long_text, combine in (("truncate", "mean"), ("windows", "mean")):
        encoder, tokenizer = tiny(max_length=8)
        model = TextClassifier(encoder, tokenizer, ["neg", "pos"], long_text=long_text,
                               window_stride=3, window_combine=combine, head="mean")
        model.compile(optimizer=keras.optimizers.Adam(3e-3))
        model.fit(texts[:128], labels[:128], batch_size=8, epochs=16, verbose=0)
        answered = model.predict(texts[128:])["label"]
        accuracy[long_text, combine] = float(np.mean(answered == np.array(labels[128:])))
        evaluated = model.evaluate(texts[128:], labels[128:], verbose=0, return_dict=True)
        assert evaluated["accuracy"] == pytest.approx(accuracy[long_text, combine], abs=1e-6)
    assert accuracy["windows", "mean"] >= 0.9, accuracy
    assert accuracy["truncate", "mean"] <= 0.75, accuracy


@pytest.mark.parametrize("kwargs, message", [
    (dict(long_text="window"), "long_text = 'window' is not one of: truncate, windows"),
    (dict(long_text="windows", window_combine="sum"), "window_combine = 'sum' is not one of: mean, max, attention"),
    (dict(long_text="windows", window_stride=0), "window stride must be in [1, 6]"),
    (dict(long_text="windows", window_stride=7), "window stride must be in [1, 6]"),
    (dict(long_text="windows", pair=True), 'long_text = "windows" is for single texts'),
])
def test_bad_long_text_settings(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TextClassifier(*tiny(max_length=8), ["neg", "pos"], **kwargs)


def test_an_xla_export_of_windows_is_refused(tmp_path):
    model, _ = windowed()
    with pytest.raises(ValueError, match=re.escape("XLA export (export.xla = true) of a long_text")):
        export_for_serving(model, tmp_path, "long", jit_compile=True)


@pytest.mark.parametrize("override, message", [
    ("classification.long_text=all", "long_text = 'all' is not one of: truncate, windows"),
    ("classification.window_combine=sum", "window_combine = 'sum' is not one of: mean, max, attention"),
    ("classification.window_stride=0", 'window_stride must be a positive number of pieces or "auto"'),
    ("classification.window_stride=half", "window_stride must be an integer or one of 'auto'"),
    ("classification.max_windows=0", "max_windows must be at least 1, got 0"),
])
def test_bad_long_text_keys_in_a_recipe(override, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(SENTIMENT, [override])


def test_a_recipe_passes_the_long_text_keys_to_the_task():
    options = load_recipe(SENTIMENT, ["classification.long_text=windows",
                                      "classification.window_stride=40"]).options
    assert options.long_text_options() == {"long_text": "windows", "window_stride": 40,
                                           "window_combine": "mean", "max_windows": 8}
    assert load_recipe(SENTIMENT).options.long_text_options()["window_stride"] is None
