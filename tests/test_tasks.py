"""Task models on a tiny random BERT: they train on raw strings and predict labels."""

import keras
import numpy as np
import pytest

from tfbert import BertEncoder, BertTokenizer
from tfbert.data.readers import TextExamples
from tfbert.tasks import TextClassifier, TextRegressor
from tiny_models import VOCAB, assert_rows_match, spread, tiny


POSITIVE = ["good movie", "great film", "the plot was good", "very good", "fine film", "great plot"]
NEGATIVE = ["bad movie", "awful film", "the plot was bad", "very bad", "poor film", "awful plot"]
TEXTS = (POSITIVE + NEGATIVE) * 3
LABELS = (["pos"] * 6 + ["neg"] * 6) * 3


# A random tiny BERT gives every text nearly the same [CLS] vector at first: the
# [CLS] head needs more steps to break away from that plateau than attention pooling.
@pytest.mark.parametrize("head, epochs", [("cls", 12), ("attention", 6), ("mean", 6)])
def test_single_text_classifier_learns(head, epochs):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"], head=head)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(TEXTS, LABELS, batch_size=8, epochs=epochs, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses
    predicted = model.predict(["very good movie", "awful plot"])
    assert predicted["label"].tolist() == ["pos", "neg"]
    assert predicted["label_id"].tolist() == [1, 0]
    assert predicted["probabilities"].shape == (2, 2)
    np.testing.assert_allclose(predicted["probabilities"].sum(-1), 1.0, rtol=1e-6)
    rows = model.postprocessor.prediction_rows(predicted)
    assert [row["label"] for row in rows] == ["pos", "neg"]
    assert rows[0]["probabilities"]["pos"] == pytest.approx(predicted["probabilities"][0, 1], abs=1e-6)


def test_predict_keeps_input_order_across_length_sorting():
    encoder, tokenizer = tiny()
    model = spread(TextClassifier(encoder, tokenizer, ["neg", "pos", "mixed"]))
    texts = ["the plot was very very good", "bad", "good film", "a", "very bad film"]
    together = model.predict(texts, batch_size=2)["logits"]
    one_by_one = np.concatenate([model.predict([t])["logits"] for t in texts])
    assert_rows_match(together, one_by_one)


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
    # Label j's name where it is predicted, "" elsewhere; the rows list them.
    assert predicted["labels"].tolist() == [["fare", "flight", ""], ["", "", "weather"]]
    assert [row["label"] for row in model.postprocessor.prediction_rows(predicted)] == [["fare", "flight"], ["weather"]]


def test_pair_classifier_learns():
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["different", "same"], pair=True, head="attention")
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    first = ["good movie", "bad film", "great plot", "awful movie"] * 6
    second = ["good movie", "good movie", "great plot", "great plot"] * 6
    labels = ["same", "different", "same", "different"] * 6
    history = model.fit((first, second), labels, batch_size=8, epochs=10, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert model.predict({"text": ["good movie"], "text_pair": ["good movie"]})["label"].tolist() == ["same"]


def test_pair_regressor_learns():
    encoder, tokenizer = tiny()
    model = TextRegressor(encoder, tokenizer, min_score=0.0, max_score=5.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    first = ["good movie", "bad film", "great plot", "awful movie"] * 6
    second = ["good movie", "good movie", "great plot", "great plot"] * 6
    scores = [5.0, 1.0, 5.0, 0.0] * 6
    history = model.fit((first, second), scores, batch_size=8, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    predicted = model.predict((["good movie", "awful movie"], ["good movie", "great plot"]))["score"]
    assert predicted[0] > predicted[1]
    assert ((predicted >= 0) & (predicted <= 5)).all()


def test_keras_save_and_load_keeps_labels_and_outputs(tmp_path):
    encoder, tokenizer = tiny()
    model = spread(TextClassifier(encoder, tokenizer, ["neg", "pos"], head="attention"))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.label_names == ["neg", "pos"] and loaded.get_config()["head"] == "attention"
    texts = POSITIVE[:3] + NEGATIVE[:3]
    assert_rows_match(loaded.predict(texts)["logits"], model.predict(texts)["logits"], atol=1e-6)


def test_bad_inputs_are_clear():
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"examples given, line 1: unknown label 'meh'; known labels \(2\): neg, pos"):
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
    with pytest.raises(ValueError, match="examples given, line 2: score 'high' is not a number"):
        regressor.fit((["a", "b"], ["b", "c"]), [1.0, "high"], verbose=0)
    examples = TextExamples(texts=["a"], text_pairs=None, labels=["pos"], source="file.tsv",
                            line_numbers=[7])
    with pytest.raises(ValueError, match="file.tsv: this task takes text pairs"):
        regressor.fit(examples, verbose=0)
    with pytest.raises(ValueError, match="TextExamples carry their own labels"):
        model.fit(examples, ["pos"], verbose=0)


def test_empty_prediction():
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    predicted = model.predict([])
    assert predicted["label"].shape == (0,) and predicted["probabilities"].shape == (0, 2)


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
    assert model.predict(["good"])["probabilities"].dtype == np.float32  # the head's float32
    if policy:
        hidden = model.encoder(model.tokenizer(["good"]))["sequence_output"]
        assert hidden.dtype == "bfloat16"


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


def test_multi_label_outputs_start_at_label_priors():
    """initialize_from_targets: before any training a multi-label model answers each
    label with about its training frequency, whatever the text; softmax models are
    left as they are."""
    encoder, tokenizer = tiny()
    multi = TextClassifier(encoder, tokenizer, ["a", "b", "c"], multi_label=True)
    targets = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32)
    multi.initialize_from_targets(targets)
    probabilities = multi.predict(TEXTS[:6])["probabilities"]
    # p = 0.75, 0.25 and 0 (clipped to 1e-4), give or take the random head's tilt.
    np.testing.assert_allclose(probabilities, np.tile([0.75, 0.25, 1e-4], (6, 1)), atol=0.03)
    single = TextClassifier(tiny()[0], tokenizer, ["x", "y"])
    before = single.predict(TEXTS[:6])["probabilities"]
    single.initialize_from_targets(np.array([0, 0, 0, 1]))
    np.testing.assert_array_equal(single.predict(TEXTS[:6])["probabilities"], before)


def test_fit_resumes_at_initial_step_on_the_same_batches():
    """fit(initial_step=k) skips exactly the k batches already trained on: a run
    split at step k ends with the same weights as one run straight through."""
    def trained(split_at=None):
        encoder, tokenizer = tiny(seed=3)
        model = TextClassifier(encoder, tokenizer, ["neg", "pos"], head="attention", dropout=0.0)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        if split_at is None:
            model.fit(TEXTS, LABELS, batch_size=8, epochs=2, seed=4, verbose=0)
        else:
            def stop(batch, logs):  # as a killed run: it stops after `split_at` steps
                if model.optimizer.iterations.numpy() == split_at:
                    model.stop_training = True
            model.fit(TEXTS, LABELS, batch_size=8, epochs=2, seed=4, verbose=0,
                      callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=stop)])
            assert model.optimizer.iterations.numpy() == split_at
            steps = []
            model.fit(TEXTS, LABELS, batch_size=8, epochs=2, seed=4, initial_step=split_at,
                      verbose=0, callbacks=[keras.callbacks.LambdaCallback(
                          on_train_batch_end=lambda batch, logs: steps.append(batch))])
            assert len(steps) == 10 - split_at  # only the remaining steps ran
        return model.get_weights()

    straight = trained()
    for split_at in (5, 7):  # at an epoch's end, and mid-epoch (36 texts: 5 steps an epoch)
        for weight, other in zip(straight, trained(split_at)):
            np.testing.assert_allclose(weight, other, atol=1e-6)


@pytest.mark.parametrize("head", ["cls", "attention", "mean"])
def test_only_weights_a_head_reads_are_trained(head):
    """The encoder's pooler feeds only the [CLS] head: under the other heads it is not
    trained, so fitting warns of no missing gradient and leaves the pooler as it was."""
    import warnings

    model = TextClassifier(*tiny(), ["neg", "pos"], head=head)
    pooler = {v.path: np.array(v) for v in model.weights if v.path.startswith("pooler/")}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(TEXTS[:8], LABELS[:8], batch_size=4, verbose=0)
    assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
    after = {v.path: np.array(v) for v in model.weights if v.path.startswith("pooler/")}
    moved = any(not np.array_equal(after[path], pooler[path]) for path in pooler)
    assert moved == (head == "cls")


def traces_of(model, step):
    """A counter of the traces of `model.<step>` (Keras calls it once per trace)."""
    count, original = [0], getattr(model, step)

    def counted(data):
        count[0] += 1
        return original(data)
    setattr(model, step, counted)
    return count


def test_fit_and_evaluate_trace_their_step_once():
    """The optimizer's and the metrics' variables exist before Keras traces its step:
    created inside the first trace, they make TensorFlow trace the whole step again."""
    model = TextClassifier(*tiny(), ["neg", "pos"])
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    train = traces_of(model, "train_step")
    model.fit(TEXTS, LABELS, batch_size=8, epochs=2, verbose=0)
    assert train == [1]
    fresh = TextClassifier(*tiny(), ["neg", "pos"])
    fresh.compile()
    test = traces_of(fresh, "test_step")
    fresh.evaluate(TEXTS, LABELS, batch_size=8, verbose=0)
    assert test == [1]
