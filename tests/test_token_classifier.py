"""Token tagging (TokenClassifier) and joint intent + slots (IntentAndSlots) on a tiny
random BERT: they learn a few tagged sentences, tag every word of sentences longer
than the encoder takes, answer entities whose offsets slice the input, save, load and
export; bad data is refused with its file and line; the recipes run end to end."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, TINY_CONFIG, write_tiny_checkpoint
from tfbert import BertEncoder, BertTokenizer
from tfbert.data.tag_schemes import chunks, model_scheme, spans_from_tags, tags_from_spans
from tfbert.data.tagged_pipeline import TokenizedWords
from tfbert.data.tagged_readers import TaggedExamples
from tfbert.evaluation.evaluate import evaluate_task
from tfbert.recipe import DataSection, load_recipe
from tfbert.text.offsets import char_offsets
from tfbert.tasks.intent_and_slots import IntentAndSlots, IntentAndSlotsSection
from tfbert.tasks.token_classifier import (TokenClassificationSection, TokenClassifier,
                                          tag_names_for)

WORDS = ("the a in to of was went is lives visited met and said from my friend city today "
         "alice bob car ##ol paris lon ##don berlin rome new york . , ! "
         "我 住 在 北 京 上 海").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
MAX_LENGTH = 10  # windows of 8 pieces, 4 apart

# (words, IOB2 tags, intent). "carol" and "london" are two pieces each; "xyzzy" is [UNK].
SENTENCES = [
    ("alice lives in paris .", "B-PER O O B-LOC O", "travel"),
    ("bob visited london and rome", "B-PER O B-LOC O B-LOC", "travel"),
    ("my friend carol went to berlin today", "O O B-PER O O B-LOC O", "travel"),
    ("the city of new york was my city", "O O O B-LOC I-LOC O O O", "chat"),
    ("我 住 在 北 京", "O O O B-LOC I-LOC", "travel"),
    ("我 在 上 海", "O O B-LOC I-LOC", "chat"),
    ("the a the a the my friend said the city was the city of rome and alice met bob in "
     "paris today", "O " * 14 + "B-LOC O B-PER O B-PER O B-LOC O", "chat"),
    ("carol and bob went from london to berlin", "B-PER O B-PER O O B-LOC O B-LOC", "travel"),
    ("xyzzy said ! my friend went to rome , xyzzy", "O O O O O O O B-LOC O O", "travel"),
    ("xyzzy rome", "O B-LOC", "chat"),
    # Most of its windows hold only "the": the mean over them says "chat".
    ("the the the the the the the the the the the the the the the the the the the the the "
     "the the the bob went to berlin", "O " * 24 + "B-PER O O B-LOC", "chat"),
]
TRAIN_WORDS = [words.split() for words, _, _ in SENTENCES]
TRAIN_TAGS = [tags.split() for _, tags, _ in SENTENCES]
INTENTS = [intent for _, _, intent in SENTENCES]
TAG_NAMES = tag_names_for({"LOC", "PER"}, "iob2")  # O, B-LOC, I-LOC, B-PER, I-PER

# Raw texts and the entities a model that learned the sentences finds in them.
TEXTS = [
    "Alice lives in Paris.",
    "我住在北京",
    "😀 Rome",
    "",
    "the " * 30 + "bob went to Berlin",  # far longer than max_length: entities at the end
    "Carol  visited\tLondon\n and Rome!",
    "the city of New York",
    "é á 😀😀 went to Berlin",
]
EXPECTED = [
    [("PER", "Alice"), ("LOC", "Paris")],
    [("LOC", "北京")],
    [("LOC", "Rome")],
    [],
    [("PER", "bob"), ("LOC", "Berlin")],
    [("PER", "Carol"), ("LOC", "London"), ("LOC", "Rome")],
    [("LOC", "New York")],
    [("LOC", "Berlin")],
]


def tiny_parts(seed=0):
    keras.utils.set_random_seed(seed)
    encoder = BertEncoder(**{**TINY_CONFIG, "vocab_size": len(VOCAB)}, hidden_dropout=0.0,
                          attention_dropout=0.0)
    return encoder, BertTokenizer(VOCAB, max_length=MAX_LENGTH)


def in_scheme(tags, scheme):
    """IOB2 tags rewritten in `scheme` (the same entities)."""
    return tags_from_spans(spans_from_tags(tags, "iob2"), len(tags), scheme)


# name: (constructor options, epochs, learning rate, batch size). The intent head reads
# [CLS], which a tiny random BERT moves slowly: smaller, more steps.
# Two models cover CRF and softmax tagging, IOB2 and BIOES (each fit traces for seconds).
MODELS = {
    "crf": (dict(crf=True, crf_learning_rate_multiplier=2.0), 12, 1e-2, 8),
    "joint": (dict(crf=False, scheme="bioes"), 25, 5e-3, 4),  # softmax BIOES tags + intent
}
BIOES_TAG_NAMES = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]


def build(name, seed=0, **overrides):
    options = MODELS[name][0]
    options = {**options, **overrides}
    tag_names = tag_names_for({"LOC", "PER"}, model_scheme(options.get("scheme", "iob2")))
    common = {"dropout": 0.0, "crf_learning_rate_multiplier": 1.0, **options}
    if name == "joint":
        return IntentAndSlots(*tiny_parts(seed), tag_names, ["chat", "travel"], **common)
    return TokenClassifier(*tiny_parts(seed), tag_names, **common)


def training_examples(name):
    scheme = MODELS[name][0].get("scheme", "iob2")
    return TaggedExamples.given(TRAIN_WORDS, [in_scheme(t, scheme) for t in TRAIN_TAGS],
                                INTENTS if name == "joint" else None)


_TRAINED = {}


@pytest.fixture(scope="module")
def trained():
    """trained(name) -> a model fitted on SENTENCES (each built and fitted once)."""
    def get(name):
        if name not in _TRAINED:
            _, epochs, learning_rate, batch_size = MODELS[name]
            model = build(name)
            model.compile(optimizer=keras.optimizers.Adam(learning_rate))
            history = model.fit(training_examples(name), batch_size=batch_size, epochs=epochs,
                                seed=1, verbose=0)
            model.history_losses = history.history["loss"]
            _TRAINED[name] = model
        return _TRAINED[name]

    yield get
    _TRAINED.clear()


def entities(outputs, i):
    count = int(outputs["entity_count"][i])
    return [(outputs["entity_type"][i][k], outputs["entity_text"][i][k]) for k in range(count)]


def check_offsets(outputs, texts):
    """Every entity's str offsets slice its text to entity_text; padding is "" / -1."""
    width = outputs["entity_text"].shape[1]
    for key in ("entity_type", "entity_start", "entity_end"):
        assert outputs[key].shape == (len(texts), width)
    for i, text in enumerate(texts):
        count = int(outputs["entity_count"][i])
        for k in range(width):
            start, end = int(outputs["entity_start"][i][k]), int(outputs["entity_end"][i][k])
            if k < count:
                assert 0 <= start < end <= len(text)
                assert text[start:end] == outputs["entity_text"][i][k]
            else:
                assert (start, end) == (-1, -1)
                assert outputs["entity_text"][i][k] == outputs["entity_type"][i][k] == ""


# --------------------------------------------------------------------- learning


@pytest.mark.parametrize("name", list(MODELS))
def test_learns_the_training_sentences(trained, name):
    model = trained(name)
    losses = model.history_losses
    assert losses[-1] < 0.1 * losses[0], losses
    metrics, summary = evaluate_task(model, training_examples(name))
    assert metrics["f1"] == 1.0 and metrics["token_accuracy"] == 1.0, summary
    # Sentences, not their windows (len(TokenizedWords) counts windows).
    assert metrics["gold_entities"] == 22 and metrics["examples"] == len(SENTENCES)
    assert set(metrics["per_type"]) == {"LOC", "PER"}
    if name == "joint":
        assert metrics["intent_accuracy"] == 1.0 and metrics["sentence_accuracy"] == 1.0
    assert model.tag_names == (BIOES_TAG_NAMES if name == "joint" else TAG_NAMES)
    if name == "joint":  # the gold tags are scored in BIOES
        assert metrics["per_type"]["LOC"]["support"] == 14


_RAW = {}


@pytest.fixture(scope="module")
def raw_predictions(trained):
    """raw_predictions(name) -> (model, its predict(TEXTS) outputs), computed once (a
    model's first predict() on raw text traces the whole serving graph: seconds)."""
    def get(name):
        if name not in _RAW:
            model = trained(name)
            _RAW[name] = model, model.predict(TEXTS, batch_size=4)  # two batches
        return _RAW[name]

    yield get
    _RAW.clear()


@pytest.mark.parametrize("name", ["crf", "joint"])
def test_predict_raw_text_gives_entities_that_slice_the_input(raw_predictions, name):
    model, outputs = raw_predictions(name)
    check_offsets(outputs, TEXTS)
    assert [entities(outputs, i) for i in range(len(TEXTS))] == EXPECTED
    np.testing.assert_array_equal(outputs["entity_count"], [len(e) for e in EXPECTED])
    assert outputs["entity_start"][1].tolist()[:1] == [3]  # "北京" in "我住在北京"
    assert outputs["entity_start"][2].tolist()[:1] == [2]  # after the emoji and a space
    expected_keys = ["entity_count", "entity_end", "entity_start", "entity_text", "entity_type"]
    if name == "joint":
        expected_keys += ["intent", "intent_id", "intent_probabilities"]
        assert outputs["intent"].tolist()[:2] == ["travel", "travel"]
        assert outputs["intent_probabilities"].shape == (len(TEXTS), 2)
        np.testing.assert_allclose(outputs["intent_probabilities"].sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(outputs["intent_id"],
                                      np.argmax(outputs["intent_probabilities"], -1))
    assert sorted(outputs) == sorted(expected_keys)
    rows = model.postprocessor.prediction_rows(outputs)
    assert rows[0]["entities"] == [{"text": "Alice", "type": "PER", "start": 0, "end": 5},
                                   {"text": "Paris", "type": "LOC", "start": 15, "end": 20}]
    assert rows[3]["entities"] == []
    if name == "joint":
        assert rows[0]["intent"] == "travel" and set(rows[0]["intent_probabilities"]) == {
            "chat", "travel"}


def long_sentences():
    """Sentences much longer than max_length, with the entities of the training data."""
    rng = np.random.default_rng(0)
    fillers = "the a in to of was my friend city today xyzzy".split()
    words, tags = [], []
    for length in (20, 37, 60):
        sentence = [str(w) for w in rng.choice(fillers, size=length)]
        sentence_tags = ["O"] * length
        for position, (word, tag) in zip((3, length // 2, length - 1),
                                         [("alice", "B-PER"), ("paris", "B-LOC"),
                                          ("carol", "B-PER")]):
            sentence[position], sentence_tags[position] = word, tag
        words.append(sentence)
        tags.append(sentence_tags)
    return words, tags


@pytest.mark.parametrize("name", ["crf", "joint"])
def test_predict_tagged_words_tags_every_word_of_long_sentences(trained, name):
    model = trained(name)
    words, tags = long_sentences()
    data = model.tokenize(words, targets=False)
    assert isinstance(data, TokenizedWords)
    assert data.num_sentences == 3 and len(data) > 3 * 3  # cut into many windows
    assert (data.lengths <= MAX_LENGTH).all()
    predicted = model.predict(data, batch_size=4)["tags"]
    assert [len(row) for row in predicted] == [len(row) for row in words]
    assert all(tag in model.tag_names for row in predicted for tag in row)  # no None
    assert [chunks(row) for row in predicted] == [chunks(row) for row in tags]


# ------------------------------------------------------- saving and loading


def window_logits(model, data):
    """The model's outputs (tag scores, intent scores) on every window of `data`, as one
    array [windows, outputs]."""
    batches = [np.arange(len(data))]
    features = next(iter(data.dataset(model.tokenizer, batches)))
    outputs = model(features, training=False)
    return np.concatenate([np.reshape(outputs[key], [len(data), -1]) for key in sorted(outputs)], 1)


@pytest.mark.parametrize("name", ["crf", "joint"])
def test_config_round_trip_and_keras_file(trained, tmp_path, name):
    model = trained(name)
    words, _ = long_sentences()
    data = model.tokenize(TRAIN_WORDS + words, targets=False)
    expected_logits = window_logits(model, data)

    config = model.get_config()
    assert config["tag_names"] == model.tag_names and config["crf"] == (name == "crf")
    assert config["scheme"] == ("bioes" if name == "joint" else "iob2")
    assert config["crf_learning_rate_multiplier"] == (2.0 if name == "crf" else 1.0)
    clone = type(model).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    assert not np.allclose(window_logits(clone, data), expected_logits, atol=1e-3)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(window_logits(clone, data), expected_logits, atol=1e-5)

    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model) and loaded.get_config() == config
    for mine, theirs in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs), err_msg=mine.path)
    np.testing.assert_allclose(window_logits(loaded, data), expected_logits, atol=1e-5)
    if name == "joint":
        assert loaded.intent_names == ["chat", "travel"]
        assert loaded.get_config()["intent_names"] == ["chat", "travel"]
    else:  # the CRF's transitions (learning-rate multiplier and all) came back
        for mine, theirs in zip(model.crf.weights, loaded.crf.weights):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
        assert loaded.crf.learning_rate_multiplier == 2.0


# ------------------------------------------------------------------- export


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The trained CRF tagger exported, and loaded back as TF Serving would."""
    from tfbert.export import export_for_serving

    model = trained("crf")
    path = export_for_serving(model, tmp_path_factory.mktemp("served"), "ner")
    return model, tf.saved_model.load(str(path)), path


def test_export_serves_the_same_entities_with_byte_offsets(exported, raw_predictions):
    model, loaded, path = exported
    assert sorted((path / "assets").iterdir()) == [path / "assets" / "tags.txt",
                                                  path / "assets" / "vocab.txt"]
    assert (path / "assets" / "tags.txt").read_text().split("\n")[:-1] == TAG_NAMES
    served = {k: v.numpy() for k, v in
              loaded.signatures["serving_default"](text=tf.constant(TEXTS)).items()}
    predicted = raw_predictions("crf")[1]
    assert sorted(served) == sorted(predicted) == [
        "entity_count", "entity_end", "entity_start", "entity_text", "entity_type"]
    np.testing.assert_array_equal(served["entity_count"], predicted["entity_count"])
    width = predicted["entity_text"].shape[1]
    assert served["entity_text"].shape == (len(TEXTS), width)
    for key in ("entity_text", "entity_type"):
        assert [[x.decode() for x in row] for row in served[key]] == predicted[key].tolist()
    for i, text in enumerate(TEXTS):
        encoded = text.encode()
        for k in range(int(served["entity_count"][i])):
            start, end = served["entity_start"][i][k], served["entity_end"][i][k]
            assert encoded[start:end] == served["entity_text"][i][k]
        for key in ("entity_start", "entity_end"):
            assert char_offsets(text, served[key][i]) == predicted[key][i].tolist()
    assert served["entity_start"].dtype == np.int32 and served["entity_count"].dtype == np.int32


def test_export_predict_words_matches_predict_on_tokenized_words(exported):
    model, loaded, _ = exported
    words, _ = long_sentences()
    sentences = TRAIN_WORDS + words + [["😀", "\u200b", "Rome"]]  # a word of removed chars
    data = model.tokenize(sentences, targets=False)
    expected = model.predict(data)["tags"]
    width = max(len(s) for s in sentences)
    padded = tf.constant([s + [""] * (width - len(s)) for s in sentences])
    tags = loaded.signatures["predict_words"](words=padded)["tags"].numpy()
    assert tags.shape == (len(sentences), width)
    for row, sentence, want in zip(tags, sentences, expected):
        assert [t.decode() for t in row] == want + [""] * (width - len(sentence))
    assert [t.decode() for t in tags[-1]][:3] == ["O", "O", "B-LOC"]  # every word keeps a tag


def test_export_answers_an_empty_request(exported):
    _, loaded, _ = exported
    served = loaded.signatures["serving_default"](text=tf.constant([], tf.string))
    assert served["entity_count"].shape == (0,)
    for key in ("entity_text", "entity_type", "entity_start", "entity_end"):
        assert served[key].shape.rank == 2 and served[key].shape[0] == 0, key
    tags = loaded.signatures["predict_words"](words=tf.zeros([0, 0], tf.string))["tags"]
    assert tags.shape.rank == 2 and tags.shape[0] == 0
    blank = loaded.signatures["serving_default"](text=tf.constant(["", "  \u200b "]))
    assert blank["entity_count"].numpy().tolist() == [0, 0]


# --------------------------------------------------------------- bad input


def write_conll(path, rows):
    """rows: lists of 'word tag' lines; a blank line after each sentence."""
    path.write_text("-DOCSTART- -X- -X- O\n\n" + "".join(
        "".join(line + "\n" for line in sentence) + "\n" for sentence in rows))
    return path


def read(path, **section):
    return TokenClassificationSection(**section).read_examples(path, DataSection())


def test_i_after_o_in_iob2_names_file_and_line(tmp_path):
    path = write_conll(tmp_path / "bad.conll", [["alice B-PER", "lives O"],
                                                ["bob B-PER", "went O", "to O", "rome I-LOC"]])
    examples = read(path)
    model = build("crf")
    # Sentence 2 starts on line 6; its 4th word is on line 9.
    with pytest.raises(ValueError, match=rf"{path}, line 9: 'I-LOC' follows 'O'.*iob1"):
        model.preprocessor.encode_targets(examples)
    with pytest.raises(ValueError, match=rf"{path}, line 9"):
        model.fit(examples, verbose=0)
    with pytest.raises(ValueError, match=rf"{path}, line 9"):
        TokenClassifier.tag_names_of(TokenClassificationSection(), examples)
    # iob1 reads the same file: I- after O starts an entity.
    iob1 = build("crf", scheme="iob1")
    targets, kept, skipped = iob1.preprocessor.encode_targets(read(path, scheme="iob1"))
    assert skipped == 0 and kept.tolist() == [0, 1]
    assert targets["gold_tags"][1] == ["B-PER", "O", "O", "B-LOC"]


def test_invalid_sequences_skip_leaves_the_sentence_out(tmp_path, capsys):
    path = write_conll(tmp_path / "train.conll", [["alice B-PER", "lives O"],
                                                  ["bob I-PER", "went O"],
                                                  ["rome B-LOC"]])
    examples = read(path, invalid_sequences="skip")
    section = TokenClassificationSection(invalid_sequences="skip")
    assert TokenClassifier.tag_names_of(section, examples) == TAG_NAMES
    model = build("crf", invalid_sequences="skip")
    targets, kept, skipped = model.preprocessor.encode_targets(examples)
    assert skipped == 1 and kept.tolist() == [0, 2]
    assert targets["tag_ids"].to_list() == [[3, 0], [1]]
    assert f"{path}, line 6" in capsys.readouterr().out
    data = model.tokenize(examples)
    assert data.skipped == 1 and data.num_sentences == 2
    assert data.examples.line_numbers == [3, 9]


@pytest.fixture(scope="module")
def unknown_type_file(tmp_path_factory):
    """Evaluation data whose second sentence holds an entity type the model never saw."""
    return write_conll(tmp_path_factory.mktemp("eval") / "dev.conll", [
        ["alice B-PER", "lives O", "in O", "paris B-LOC"],
        ["bob B-PER", "met O", "my B-ORG", "friend I-ORG", "in O", "rome B-LOC"],
        ["carol B-PER", "went O", "to O", "berlin B-LOC"]])


def test_unknown_tag_in_evaluation_data(trained, unknown_type_file):
    model = trained("crf")
    examples = read(unknown_type_file)
    with pytest.raises(ValueError, match=rf"{unknown_type_file}, line 10: tag 'B-ORG' is not "
                                         r"one the model knows \(entity types: LOC, PER\)"):
        evaluate_task(model, examples)
    metrics, _ = evaluate_task(model, examples, on_unknown="skip")
    assert metrics["skipped"] == 1 and metrics["examples"] == 2
    assert metrics["f1"] == 1.0 and metrics["gold_entities"] == 4
    metrics, _ = evaluate_task(model, examples, on_unknown="keep")
    assert metrics["skipped"] == 0 and metrics["examples"] == 3
    # The ORG entity is gold, never predicted: missed. Everything else is right.
    assert metrics["gold_entities"] == 7 and metrics["correct_entities"] == 6
    assert metrics["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                          "support": 1}
    assert metrics["recall"] == pytest.approx(6 / 7) and metrics["precision"] == 1.0
    targets, kept, _ = model.preprocessor.encode_targets(examples, on_unknown="keep")
    assert targets["tag_ids"].to_list()[1] == [3, 0, -1, -1, 0, 1]
    assert targets["gold_tags"][1][2:4] == ["B-ORG", "I-ORG"]


def test_evaluation_report_rows_hold_gold_and_predicted_spans(trained, unknown_type_file,
                                                              tmp_path):
    model = trained("crf")
    metrics, _ = evaluate_task(model, read(unknown_type_file), tmp_path, on_unknown="keep")
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [row["line"] for row in rows] == [3, 8, 15]
    assert rows[1]["text"] == "bob met my friend in rome"
    span = lambda type_, start, end, text: dict(type=type_, start=start, end=end, text=text)
    assert rows[1]["gold"] == [span("PER", 0, 1, "bob"), span("ORG", 2, 4, "my friend"),
                               span("LOC", 5, 6, "rome")]
    assert rows[1]["predicted"] == [span("PER", 0, 1, "bob"), span("LOC", 5, 6, "rome")]
    assert not rows[1]["correct"]
    assert rows[0]["correct"] and rows[0]["tags"] == ["B-PER", "O", "O", "B-LOC"]
    assert json.loads((tmp_path / "metrics.json").read_text())["f1"] == metrics["f1"]


def test_joint_model_unknown_intent(tmp_path):
    model = build("joint")
    examples = TaggedExamples.given([["alice", "lives"], ["bob"], ["rome"]],
                                    [["S-PER", "O"], ["S-PER"], ["S-LOC"]],
                                    ["travel", "booking", "chat"])
    with pytest.raises(ValueError, match=r"examples given, line 2: intent 'booking' is not one "
                                         r"the model knows \(2 intents\)"):
        model.preprocessor.encode_targets(examples)
    targets, kept, skipped = model.preprocessor.encode_targets(examples, on_unknown="skip")
    assert skipped == 1 and kept.tolist() == [0, 2]
    assert targets["label_ids"].tolist() == [1, 0] and targets["gold_intents"] == ["travel", "chat"]
    assert targets["tag_ids"].to_list() == [[8, 0], [4]]  # S-PER, O; S-LOC
    targets, kept, skipped = model.preprocessor.encode_targets(examples, on_unknown="keep")
    assert skipped == 0 and targets["label_ids"].tolist() == [1, -1, 0]
    with pytest.raises(ValueError, match="no intents were read"):
        model.preprocessor.encode_targets(TaggedExamples.given([["bob"]], [["S-PER"]]))
    # An unknown intent and an unknown tag in one file: both counted once.
    mixed = TaggedExamples.given([["alice"], ["bob"], ["rome"]], [["S-PER"], ["S-ORG"], ["S-LOC"]],
                                 ["travel", "booking", "chat"])
    _, kept, skipped = model.preprocessor.encode_targets(mixed, on_unknown="skip")
    assert kept.tolist() == [0, 2] and skipped == 1


def test_refused_settings(tmp_path):
    encoder, tokenizer = tiny_parts()
    with pytest.raises(ValueError, match="single sentences, not text pairs"):
        TokenClassifier(encoder, tokenizer, TAG_NAMES, pair=True)
    with pytest.raises(ValueError, match="tag_names must be distinct and hold 'O'"):
        TokenClassifier(encoder, tokenizer, ["B-PER", "I-PER"])
    with pytest.raises(ValueError, match="scheme 'bio' is not one of"):
        TokenClassifier(encoder, tokenizer, TAG_NAMES, scheme="bio")
    path = write_conll(tmp_path / "x.conll", [["alice B-PER"]])
    for data in (DataSection(text_column="sentence"), DataSection(label_column="tag"),
                 DataSection(text_pair_column="other")):
        with pytest.raises(ValueError, match="words_column"):
            TokenClassificationSection().read_examples(path, data)
    with pytest.raises(TypeError, match="raw texts go to predict"):
        build("crf").fit(["alice lives in paris"], verbose=0)
    for bad, message in ((dict(scheme="bio"), "scheme = 'bio'"),
                         (dict(invalid_sequences="keep"), "invalid_sequences = 'keep'"),
                         (dict(crf_learning_rate_multiplier=0.0), "must be positive")):
        with pytest.raises(ValueError, match=message):
            TokenClassificationSection(**bad).check()


# ------------------------------------------------------------------ recipes


def test_recipes_load():
    ner = load_recipe(ROOT / "recipes" / "ner.toml")
    assert ner.task == "token_classification" and ner.task_class is TokenClassifier
    assert isinstance(ner.options, TokenClassificationSection)
    assert ner.options.crf and ner.options.scheme == "iob2" and ner.training.eval_metric == "f1"
    assert ner.data.train.endswith("recipes/data/ner/train.conll")
    slots = load_recipe(ROOT / "recipes" / "slots.toml")
    assert slots.task == "intent_and_slots" and slots.task_class is IntentAndSlots
    assert isinstance(slots.options, IntentAndSlotsSection)
    assert slots.options.intent_column == "label"
    assert slots.training.eval_metric == "sentence_accuracy"
    from tfbert.recipe import RecipeError

    with pytest.raises(RecipeError, match="crf_learning_rate_multiplier must be positive"):
        load_recipe(ROOT / "recipes" / "ner.toml",
                    ["token_classification.crf_learning_rate_multiplier=0.0"])
    with pytest.raises(RecipeError, match="unknown key 'token_classification.head'"):
        load_recipe(ROOT / "recipes" / "ner.toml", ["token_classification.head=cls"])


def test_recipe_text_column_is_refused_for_tagging():
    from tfbert.train import read_split

    recipe = load_recipe(ROOT / "recipes" / "ner.toml", ["data.text_column=sentence"])
    with pytest.raises(ValueError, match="words_column"):
        read_split(recipe, recipe.data.train)


def sample_words(*paths):
    words = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            words.update(w.lower() for w in line.split() if w.isalpha())
    return sorted(words)


@pytest.mark.parametrize("recipe_name", ["ner", "slots"])
def test_recipe_trains_evaluates_and_exports(tmp_path, recipe_name):
    from tfbert.train import train

    data = ROOT / "recipes" / "data" / recipe_name
    if recipe_name == "ner":
        words = sample_words(data / "train.conll", data / "dev.conll")
    else:
        words = sample_words(data / "train" / "seq.in", data / "dev" / "seq.in")
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", words)
    recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.toml", [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}",
        f"export.dir={tmp_path / 'served'}", "training.epochs=1", "training.min_steps=0",
        "training.batch_size=16",
        "training.max_length=16", "training.learning_rate=5e-3",
        "data.max_train_examples=48"])
    result = train(recipe)
    metrics = json.loads((tmp_path / "run" / "eval_dev" / "metrics.json").read_text())
    assert 0.0 <= metrics["f1"] <= 1.0 and metrics["f1"] == result["dev"]["f1"]
    assert metrics["examples"] > 0 and metrics["skipped"] == 0
    if recipe_name == "slots":
        assert 0.0 <= metrics["intent_accuracy"] <= 1.0
    rows = [json.loads(line) for line in
            (tmp_path / "run" / "eval_dev" / "predictions.jsonl").read_text().splitlines()]
    examples = recipe.read_examples(recipe.data.dev)
    assert len(rows) == len(examples) == metrics["examples"]
    assert sum(len(row["gold"]) for row in rows) == metrics["gold_entities"] > 0
    assert sum(len(row["predicted"]) for row in rows) == metrics["predicted_entities"]
    for row in rows:
        assert len(row["tags"]) == len(row["text"].split())
        words = row["text"].split()
        for span in row["gold"] + row["predicted"]:
            assert 0 <= span["start"] < span["end"] <= len(words) and span["type"]
            assert span["text"] == " ".join(words[span["start"]:span["end"]])
    task_json = json.loads((tmp_path / "run" / "task.json").read_text())
    assert task_json["task"] == recipe.task and "O" in task_json["config"]["tag_names"]
    serve = tf.saved_model.load(result["export"]).signatures["serving_default"]
    text = "Chen Wei flew from Boston to Denver on Tuesday, said Orbit Labs."
    outputs = serve(text=tf.constant([text, ""]))
    assert outputs["entity_count"].numpy()[1] == 0
    for k in range(int(outputs["entity_count"].numpy()[0])):
        start, end = outputs["entity_start"].numpy()[0][k], outputs["entity_end"].numpy()[0][k]
        assert text.encode()[start:end] == outputs["entity_text"].numpy()[0][k]
    if recipe_name == "slots":
        assert outputs["intent"].numpy()[0].decode() in task_json["config"]["intent_names"]
