"""Task models on a tiny random BERT: they train on raw strings and predict labels."""

import keras
import numpy as np
import pytest

from tfbert import BertEncoder, BertTokenizer
from tfbert.tasks import TextClassifier, TextRegressor

WORDS = "good great fine bad awful poor movie film plot the was is very not a flight fare weather".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def tiny(seed=0):
    keras.utils.set_random_seed(seed)
    encoder = BertEncoder(vocab_size=len(VOCAB), hidden_size=32, num_layers=2, num_heads=4,
                          intermediate_size=64, max_position_embeddings=64,
                          hidden_dropout=0.0, attention_dropout=0.0)
    return encoder, BertTokenizer(VOCAB, max_length=32)


POSITIVE = ["good movie", "great film", "the plot was good", "very good", "fine film", "great plot"]
NEGATIVE = ["bad movie", "awful film", "the plot was bad", "very bad", "poor film", "awful plot"]
TEXTS = (POSITIVE + NEGATIVE) * 3
LABELS = (["pos"] * 6 + ["neg"] * 6) * 3


# A random tiny BERT gives every text nearly the same [CLS] vector at first: the
# [CLS] head needs more steps to break away from that plateau than attention pooling.
@pytest.mark.parametrize("head, epochs", [("cls", 12), ("attention", 6)])
def test_single_text_classifier_learns(head, epochs):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"], head=head)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(TEXTS, LABELS, batch_size=8, epochs=epochs, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses
    predicted = model.predict(["very good movie", "awful plot"])
    assert predicted["labels"] == ["pos", "neg"]
    assert predicted["probabilities"].shape == (2, 2)
    np.testing.assert_allclose(predicted["probabilities"].sum(-1), 1.0, rtol=1e-6)


def test_predict_keeps_input_order_across_length_sorting():
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    texts = ["the plot was very very good", "bad", "good film", "a"]
    together = model.predict(texts, batch_size=2)["logits"]
    one_by_one = np.concatenate([model.predict([t])["logits"] for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_multi_label_classifier_learns():
    encoder, tokenizer = tiny()
    names = ["fare", "flight", "weather"]
    model = TextClassifier(encoder, tokenizer, names, multi_label=True, head="attention")
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    texts = ["flight", "fare", "weather", "flight fare", "the weather", "a flight", "very fare", "flight a fare"] * 4
    labels = ["flight", "fare", "weather", "flight#fare", "weather", "flight", "fare", "flight#fare"] * 4
    history = model.fit(texts, labels, batch_size=8, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    predicted = model.predict(["flight fare", "weather"])
    assert sorted(predicted["labels"][0]) == ["fare", "flight"]
    assert predicted["labels"][1] == ["weather"]


def test_pair_classifier_learns():
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["different", "same"], pair=True, head="attention")
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    first = ["good movie", "bad film", "great plot", "awful movie"] * 6
    second = ["good movie", "good movie", "great plot", "great plot"] * 6
    labels = ["same", "different", "same", "different"] * 6
    history = model.fit((first, second), labels, batch_size=8, epochs=10, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert model.predict({"text": ["good movie"], "text_pair": ["good movie"]})["labels"] == ["same"]


def test_pair_regressor_learns():
    encoder, tokenizer = tiny()
    model = TextRegressor(encoder, tokenizer, min_score=0.0, max_score=5.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    first = ["good movie", "bad film", "great plot", "awful movie"] * 6
    second = ["good movie", "good movie", "great plot", "great plot"] * 6
    scores = [5.0, 1.0, 5.0, 0.0] * 6
    history = model.fit((first, second), scores, batch_size=8, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    predicted = model.predict((["good movie", "awful movie"], ["good movie", "great plot"]))["scores"]
    assert predicted[0] > predicted[1]
    assert ((predicted >= 0) & (predicted <= 5)).all()


def test_keras_save_and_load_keeps_labels_and_outputs(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"], head="attention")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.label_names == ["neg", "pos"] and loaded.head_type == "attention"
    np.testing.assert_allclose(loaded.predict(TEXTS)["logits"], model.predict(TEXTS)["logits"], atol=1e-6)


def test_bad_inputs_are_clear():
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"labels given, line 1: unknown label 'meh'; known labels \(2\): neg, pos"):
        model.fit(["good"], ["meh"], verbose=0)
    with pytest.raises(ValueError, match="2 inputs but 1 targets"):
        model.fit(["good", "bad"], ["pos"], verbose=0)
    with pytest.raises(ValueError, match="takes single texts"):
        model.predict({"text": ["a"], "text_pair": ["b"]})
    with pytest.raises(TypeError, match="not a single string"):
        model.predict("good")
    with pytest.raises(ValueError, match="head 'max' is not one of"):
        TextClassifier(encoder, tokenizer, ["a", "b"], head="max")
    with pytest.raises(ValueError, match="duplicates"):
        TextClassifier(encoder, tokenizer, ["a", "a"])
    cls_only = BertEncoder.from_config({**encoder.get_config(), "pooled_only": True})
    with pytest.raises(ValueError, match="head 'attention' reads every token.*pooled_only=True"):
        TextClassifier(cls_only, tokenizer, ["a", "b"], head="attention")
    TextClassifier(cls_only, tokenizer, ["a", "b"], head="cls")  # what pooled_only is for
    pair_model = TextClassifier(encoder, tokenizer, ["a", "b"], pair=True)
    with pytest.raises(ValueError, match="text-pair task"):
        pair_model.predict(["only one"])
    regressor = TextRegressor(encoder, tokenizer)
    regressor.compile(optimizer="adam")
    with pytest.raises(ValueError, match="must be numbers"):
        regressor.fit((["a"], ["b"]), ["high"], verbose=0)


def test_empty_prediction():
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    predicted = model.predict([])
    assert predicted["labels"] == [] and predicted["probabilities"].shape == (0, 2)


@pytest.mark.parametrize("policy, jit", [("mixed_bfloat16", False), (None, True)])
def test_mixed_precision_and_xla_training(policy, jit):
    keras.utils.set_random_seed(0)
    encoder = BertEncoder(vocab_size=len(VOCAB), hidden_size=32, num_layers=1, num_heads=4,
                          intermediate_size=64, max_position_embeddings=64, dtype=policy)
    model = TextClassifier(encoder, BertTokenizer(VOCAB, max_length=32), ["neg", "pos"],
                           head="attention", dtype=policy)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=jit)
    history = model.fit(TEXTS, LABELS, batch_size=12, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(["good"])["probabilities"].dtype == np.float64
    if policy:
        assert model.encoder.transformer_blocks[0].attention.query_key_value.compute_dtype == "bfloat16"


def test_same_seed_same_run():
    """keras.utils.set_random_seed + the batch plan's seed make a run repeatable."""
    def run(seed):
        encoder, tokenizer = tiny(seed=5)
        model = TextClassifier(encoder, tokenizer, ["neg", "pos"], head="attention", dropout=0.2)
        model.compile(optimizer=keras.optimizers.Adam(2e-3))
        keras.utils.set_random_seed(seed)
        losses = model.fit(TEXTS, LABELS, batch_size=8, epochs=1, seed=seed, verbose=0).history["loss"]
        return losses, model.predict(TEXTS[:4])["logits"]

    (losses_a, logits_a), (losses_b, logits_b) = run(11), run(11)
    assert losses_a == losses_b
    np.testing.assert_array_equal(logits_a, logits_b)
    assert run(12)[0] != losses_a  # the seed does matter


def test_output_bias_starts_at_label_priors():
    encoder, tokenizer = tiny()
    multi = TextClassifier(encoder, tokenizer, ["a", "b", "c"], multi_label=True)
    multi.set_output_bias_to_label_priors(np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32))
    # p = 0.75, 0.25 and 0 (clipped to 1e-4): the sigmoid of each bias gives p back.
    bias = multi.head.output_dense.bias.numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-bias)), [0.75, 0.25, 1e-4], rtol=1e-4)
    single = TextClassifier(tiny()[0], tokenizer, ["x", "y"])
    single.set_output_bias_to_label_priors(np.array([0, 0, 0, 1]))
    np.testing.assert_allclose(single.head.output_dense.bias.numpy(), np.log([0.75, 0.25]), rtol=1e-5)
