"""`tfbert explain`: integrated gradients per word, as JSON lines or one HTML page.

Checked: the completeness axiom on the real MiniLM encoder (a text's attributions sum
to the output minus the output at the baseline, within 1 % of that difference) for a
classifier and a pair regressor; words with their offsets, in order,
for texts and pairs, truncated words marked; the page parses and holds every word.

The export's `explain` signature (export.explain) serves what `tfbert explain` gives:
the same words, byte offsets and attributions (within 1e-5) for texts and pairs, with
the padding it documents, and the answer serving_default gives.

Bad input tried: an empty text (a row with no words), an HTML path that is a
directory, an output name of another kind, a run without a dev set (explained all
the same), a tagger (not explainable yet: a clear message), steps 0, an unknown
baseline; for the export, explain_steps 0 (and in a recipe), a long_text = "windows"
task (refused: its answer reads windows the explanation would not).
"""

import html.parser
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from tfbert import BertTokenizer, cli
from tfbert.evaluation.explanation_page import page
from tfbert.explain import explain_texts
from tfbert.export import export_for_serving
from tfbert.recipe import RecipeError, load_recipe
from tfbert.run_directory import RunDirectory
from tfbert.tasks import TextClassifier, TextRegressor
from tfbert.tasks.token_classifier import TokenClassifier
from tiny_models import spread, tiny

TEXTS = ["A gripping, beautifully shot film.", "The plot was dull and the acting worse.",
         "not bad at all", "Zürich's café served 12 kinds of tea — all cold!"]


@pytest.fixture(scope="module")
def minilm_tasks(minilm_encoder):
    tokenizer = BertTokenizer.from_pretrained("all-minilm-l6-v2")
    classifier = TextClassifier(minilm_encoder, tokenizer, ["negative", "positive", "other"])
    regressor = TextRegressor(minilm_encoder, tokenizer, pair=True)
    for task in (classifier, regressor):  # a head large enough that answers differ
        task.head.output_dense.kernel.assign(
            np.random.default_rng(1).normal(0, 1.0, task.head.output_dense.kernel.shape))
    return classifier, regressor


def test_attributions_add_up_to_the_change_of_output(minilm_tasks):
    classifier, regressor = minilm_tasks
    rows = list(explain_texts(classifier, TEXTS))
    assert len({round(row["output"], 3) for row in rows}) == len(TEXTS)  # answers differ
    for text, row in zip(TEXTS, rows):
        change = row["output"] - row["baseline_output"]
        total = sum(word["attribution"] for word in row["words"])
        assert abs(change) > 0.01, row  # a change large enough to measure against
        assert abs(total - change) <= 0.01 * abs(change), (text, total, change)
        assert row["completeness_gap"] <= 0.01
        assert row["output"] == pytest.approx(row["probabilities"][row["label"]], abs=1e-4)
    pairs = list(explain_texts(regressor, TEXTS[:2], TEXTS[2:]))
    for row in pairs:
        change = row["output"] - row["baseline_output"]
        total = sum(word["attribution"] for word in row["words"])
        assert abs(change) > 0.01 and abs(total - change) <= 0.01 * abs(change), row
        assert row["output"] == pytest.approx(row["score"], abs=1e-4)
        assert {word["text"] for word in row["words"]} == {0, 1}  # both texts are explained


def test_words_keep_their_place_in_the_text(minilm_tasks):
    classifier, _ = minilm_tasks
    row = next(explain_texts(classifier, [TEXTS[3]], steps=4))
    words = [(w["word"], w["start"], w["end"]) for w in row["words"]]
    assert [w for w, _, _ in words] == ["Zürich", "'", "s", "café", "served", "12", "kinds", "of",
                                        "tea", "—", "all", "cold", "!"]
    assert all(TEXTS[3][start:end] == word for word, start, end in words)
    assert all(w["attribution"] is not None for w in row["words"])

    # Words past max_length were never seen: no attribution, marked as such.
    encoder, tokenizer = tiny(max_length=8)
    short = spread(TextClassifier(encoder, tokenizer, ["a", "b"]))
    row = next(explain_texts(short, ["good movie was very very bad plot the end film"], steps=4))
    seen = [w["attribution"] is not None for w in row["words"]]
    assert seen == [True] * 6 + [False] * 4  # [CLS] + 6 pieces + [SEP] = 8


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.data, self.spans = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "span" and dict(attrs).get("title", "").startswith(("+", "-")):
            self.spans.append(len(self.data))

    def handle_data(self, data):
        self.data.append(data)


def test_the_page_parses_and_holds_every_word_in_order(minilm_tasks):
    classifier, _ = minilm_tasks
    rows = list(explain_texts(classifier, TEXTS + [""], steps=8))
    assert rows[-1]["words"] == [] and rows[-1]["completeness_gap"] == 0.0  # the empty text
    document = page(rows, "Why <this> answered")
    parser = _Text()
    parser.feed(document)
    parser.close()
    text = "".join(parser.data)
    assert "Why <this> answered" in text
    position = 0
    for source in TEXTS:  # the whole text, in order, as written (escaped and read back)
        position = text.index(source, position) + len(source)
    assert len(parser.spans) == sum(len(row["words"]) for row in rows)
    assert "(empty text)" in text


def test_explain_command_writes_jsonl_and_html(tmp_path, capsys):
    encoder, tokenizer = tiny()
    model = spread(TextClassifier(encoder, tokenizer, ["negative", "positive"]))
    run = RunDirectory(tmp_path / "run")
    run.start(load_recipe(ROOT / "recipes" / "sentiment.toml", [f"output_dir={run.path}",
                                                                 "data.dev=",  # no dev set
                                                                 "export.explain_steps=2"]))
    run.save_task(model)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"sentence": text}) + "\n" for text in
                              ["good movie", "the plot was awful", "", "very very good film"]))
    assert cli.main(["explain", str(run.path), "--input", str(source), "--output",
                     str(tmp_path / "why.jsonl"), "--steps", "20"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "why.jsonl").read_text().splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 4]
    assert rows[2]["text"] == "" and rows[2]["words"] == []
    assert [w["word"] for w in rows[1]["words"]] == ["the", "plot", "was", "awful"]
    assert re.search(r"completeness gap .* median \d+\.\d+%", capsys.readouterr().out)
    assert cli.main(["explain", str(run.path), "--input", str(source), "--output",
                     str(tmp_path / "why.html"), "--limit", "2"]) == 0
    assert (tmp_path / "why.html").read_text().count('<div class="text">') == 2
    # `tfbert export --explain` adds the signature to the run's export.
    assert cli.main(["export", str(run.path), "--dir", str(tmp_path / "models"), "--explain"]) == 0
    exported = tf.saved_model.load(str(tmp_path / "models" / "sentiment" / "1"))
    assert {"serving_default", "explain"} <= set(exported.signatures)

    (tmp_path / "folder.html").mkdir()
    for output, message in ((tmp_path / "folder.html", "is a directory"),
                            (tmp_path / "why.txt", "must end in .html or .jsonl"),
                            (tmp_path / "missing" / "why.html", "does not exist")):
        assert cli.main(["explain", str(run.path), "--input", str(source), "--output",
                         str(output)]) == 1
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["explain", str(run.path), "--input", str(source), "--output", "x.html",
                  "--steps", "0"])
    with pytest.raises(ValueError, match="baseline 'blank' is not one of: pad, mask, zero"):
        next(explain_texts(model, ["good"], baseline="blank"))


def test_a_tagger_is_refused_with_a_reason():
    encoder, tokenizer = tiny()
    tagger = TokenClassifier(encoder, tokenizer, ["O", "B-X", "I-X"], crf=False)
    with pytest.raises(ValueError, match="tfbert explain is for classifiers and regressors"):
        next(explain_texts(tagger, ["good movie"], steps=2))


def test_the_export_explains_as_tfbert_explain_does(tmp_path):
    """The `explain` signature of a classifier (some words past max_length) and of a
    pair regressor gives what `tfbert explain` gives, row by row, in one batch."""
    encoder, tokenizer = tiny(max_length=10)
    classifier = spread(TextClassifier(encoder, tokenizer, ["negative", "positive", "other"]))
    regressor = spread(TextRegressor(tiny(seed=1, max_length=10)[0], tokenizer, pair=True))
    texts = ["good movie", "the plot was not very good , a bad bad film", ""]
    pairs = ["great film", "awful", "not bad at all , not at all"]
    for task, pair_texts in ((classifier, None), (regressor, pairs)):
        path = export_for_serving(task, tmp_path, "why", explain_steps=4, deployment_files=False)
        explain = tf.saved_model.load(str(path)).signatures["explain"]
        inputs = {"text": tf.constant(texts)}
        if pair_texts is not None:
            inputs["text_pair"] = tf.constant(pair_texts)
        served = {key: value.numpy() for key, value in explain(**inputs).items()}
        expected = list(explain_texts(task, texts, pair_texts, steps=4))
        widest = max(len(row["words"]) for row in expected)
        assert served["word"].shape == (len(texts), widest)
        for i, (row, text) in enumerate(zip(expected, texts)):
            count = len(row["words"])
            parts = [text.encode()] if pair_texts is None else [text.encode(), pair_texts[i].encode()]
            words = [parts[t][b:e].decode() for t, b, e in zip(
                served["word_text"][i, :count], served["word_begin"][i, :count], served["word_end"][i, :count])]
            assert words == [w["word"] for w in row["words"]]
            assert [x.decode() for x in served["word"][i, :count]] == words
            assert served["word_text"][i, :count].tolist() == [w["text"] for w in row["words"]]
            want = np.array([np.nan if w["attribution"] is None else w["attribution"] for w in row["words"]])
            np.testing.assert_allclose(served["word_attribution"][i, :count], want, atol=1e-5)
            assert served["output"][i] == pytest.approx(row["output"], abs=1e-5)
            assert served["baseline_output"][i] == pytest.approx(row["baseline_output"], abs=1e-5)
            # Padding: no word, offsets and part -1, attribution NaN.
            assert (served["word"][i, count:] == b"").all() and (served["word_text"][i, count:] == -1).all()
            assert np.isnan(served["word_attribution"][i, count:]).all()
        seen = served["word_attribution"][~np.isnan(served["word_attribution"])]
        assert np.unique(seen.round(6)).size > 5  # attributions that differ word to word
        if pair_texts is None:
            assert np.isnan(served["word_attribution"][1]).sum() > 0  # words past max_length
            assert [x.decode() for x in served["label"]] == [row["label"] for row in expected]
            assert served["output"] == pytest.approx(served["probabilities"].max(axis=-1), abs=1e-5)
        else:
            assert set(served["word_text"][0, :len(expected[0]["words"])].tolist()) == {0, 1}
            np.testing.assert_allclose(served["output"], served["score"], atol=1e-5)


def test_bad_explain_exports_are_refused(tmp_path):
    encoder, tokenizer = tiny()
    classifier = TextClassifier(encoder, tokenizer, ["a", "b"])
    for steps in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="explain_steps must be a positive integer or None"):
            export_for_serving(classifier, tmp_path, "why", explain_steps=steps)
    windows = TextClassifier(*tiny(max_length=8), ["a", "b"], long_text="windows")
    with pytest.raises(ValueError, match='long_text = "windows" task are not supported yet'):
        export_for_serving(windows, tmp_path, "windows", explain_steps=4)
    assert not (tmp_path / "windows").exists() or not any((tmp_path / "windows").iterdir())
    with pytest.raises(RecipeError, match="export.explain_steps must be positive, got 0"):
        load_recipe(ROOT / "recipes" / "sentiment.toml", ["export.explain=true", "export.explain_steps=0"])


def test_each_word_gets_its_own_pieces_attribution():
    """Every word of these texts is one word piece, so word i's attribution is that of
    position i + 1 (after [CLS]; the pair's after the text's [SEP]), computed here by
    integrated gradients over the packed row directly: a word given a neighbour's
    piece, or the pair's words counted from the wrong place, fails."""
    from tfbert.inference.attributions import integrated_gradients, word_attributions

    encoder, tokenizer = tiny()
    regressor = spread(TextRegressor(encoder, tokenizer, pair=True))
    text, pair = "good movie was very bad", "the plot fine"
    found = word_attributions(regressor, tf.constant([text]), tf.constant([pair]), steps=6)
    features = tokenizer([text], [pair])
    embedding = encoder.get_layer("embeddings").token_embedding
    ids = features["input_ids"][0]
    at_word = tf.logical_and(ids != tokenizer.cls_id, ids != tokenizer.sep_id)

    def output_of(path):
        n = tf.shape(path)[0]
        return regressor.explained_output(path, tf.repeat(features["segment_ids"], n, axis=0),
                                          tf.repeat(features["input_mask"], n, axis=0))

    per_position, _, _ = integrated_gradients(
        output_of, embedding(ids), embedding(tf.where(at_word, tokenizer.pad_id, ids)), 6)
    per_position = per_position.numpy()
    expected = np.concatenate([per_position[1:6], per_position[7:10]])  # [CLS] 5 [SEP] 3 [SEP]
    assert np.unique(expected.round(6)).size == 8  # neighbours differ: a shift would show
    np.testing.assert_allclose(found["word_attribution"][0].numpy(), expected, atol=1e-6)
    assert [w.decode() for w in found["word"][0].numpy()] == (text + " " + pair).split()


def test_a_rejected_answer_is_explained_by_its_most_probable_label(tmp_path):
    """With every answer below reject_below, the rows say the reject label, and what is
    explained (the attributions' target, whose probability is `output`) is the most
    probable real label, in `tfbert explain` and in the export's explain signature alike."""
    encoder, tokenizer = tiny()
    rejecting = spread(TextClassifier(encoder, tokenizer, ["fare", "flight", "meal"], reject_label="oos"))
    rejecting.reject_below = 0.999
    texts = ["good movie", "the flight fare was bad", "a very fine film", "not the plot"]
    probabilities = rejecting.predict(texts)["probabilities"]
    assert len(set(probabilities.argmax(-1))) > 1  # the most probable label differs by text
    rows = list(explain_texts(rejecting, texts, steps=4))
    assert [row["label"] for row in rows] == ["oos"] * len(texts)
    # output: the probability of the label whose attributions these are
    np.testing.assert_allclose([row["output"] for row in rows], probabilities.max(-1), atol=1e-5)
    path = export_for_serving(rejecting, tmp_path, "why", explain_steps=4, deployment_files=False)
    served = tf.saved_model.load(str(path)).signatures["explain"](text=tf.constant(texts))
    assert [x.decode() for x in served["label"].numpy()] == ["oos"] * len(texts)
    np.testing.assert_allclose(served["output"].numpy(), probabilities.max(-1), atol=1e-5)
