import random

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from conftest import benchmark_data
from tfbert.data.tag_schemes import chunks, spans_from_tags, tags_from_spans
from tfbert.evaluation.entity_metrics import entity_scores, token_accuracy


def test_entity_scores_by_hand():
    gold = [[("PER", 0, 2), ("LOC", 3, 4)], [("ORG", 0, 1)]]
    predicted = [[("PER", 0, 2), ("LOC", 3, 5)], [("ORG", 0, 1), ("PER", 2, 3)]]
    scores = entity_scores(gold, predicted)
    assert scores["gold_entities"] == 3 and scores["predicted_entities"] == 4
    assert scores["correct_entities"] == 2
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
    }


def test_entity_scores_of_nothing_are_zero():
    scores = entity_scores([[], []], [[], []])
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)
    assert scores["per_type"] == {}
    assert entity_scores([[("A", 0, 1)]], [[]])["precision"] == 0.0


def test_entity_scores_needs_as_many_sentences():
    with pytest.raises(ValueError, match="2 gold and 1 predicted sentences"):
        entity_scores([[], []], [[]])


def test_token_accuracy():
    assert token_accuracy([["O", "B-X"], ["O"]], [["O", "I-X"], ["O"]]) == pytest.approx(2 / 3)
    assert token_accuracy([], []) == 0.0
    with pytest.raises(ValueError, match="sentence 2: 1 gold tags but 2 predicted"):
        token_accuracy([["O"], ["O"]], [["O"], ["O", "O"]])
    with pytest.raises(ValueError, match="1 gold and 2 predicted sentences"):
        token_accuracy([["O"]], [["O"], ["O"]])


# Cross-checks with seqeval (default mode, conlleval-compatible) --------------------


def random_gold(rng, scheme, types=("PER", "LOC", "ORG")):
    """A valid tag sequence: random non-overlapping spans written in `scheme`."""
    length = rng.randint(1, 9)
    spans, k = [], 0
    while k < length:
        if rng.random() < 0.4:
            end = min(length, k + rng.randint(1, 3))
            spans.append((rng.choice(types), k, end))
            k = end
        k += rng.randint(0, 2)
    return tags_from_spans(spans, length, scheme)


def random_prediction(rng, gold, prefixes, types=("PER", "LOC", "ORG")):
    """Gold with some tags replaced at random: often ill-formed (I- after O, no E-)."""
    names = ["O"] + [f"{p}-{t}" for p in prefixes for t in types]
    share = rng.choice([0.0, 0.1, 0.3, 1.0])
    return [rng.choice(names) if rng.random() < share else tag for tag in gold]


def assert_same_as_seqeval(gold_tags, predicted_tags):
    scores = entity_scores([chunks(t) for t in gold_tags], [chunks(t) for t in predicted_tags])
    assert scores["precision"] == pytest.approx(precision_score(gold_tags, predicted_tags,
                                                                zero_division=0))
    assert scores["recall"] == pytest.approx(recall_score(gold_tags, predicted_tags,
                                                          zero_division=0))
    assert scores["f1"] == pytest.approx(f1_score(gold_tags, predicted_tags, zero_division=0))
    if not scores["per_type"]:
        return  # seqeval's report averages over no types (numpy warns)
    report = classification_report(gold_tags, predicted_tags, output_dict=True, zero_division=0)
    per_type = {name: row for name, row in report.items() if not name.endswith(" avg")}
    assert sorted(per_type) == sorted(scores["per_type"])
    for name, row in per_type.items():
        ours = scores["per_type"][name]
        assert ours["precision"] == pytest.approx(row["precision"])
        assert ours["recall"] == pytest.approx(row["recall"])
        assert ours["f1"] == pytest.approx(row["f1-score"])
        assert ours["support"] == row["support"]
    assert scores["gold_entities"] == report["micro avg"]["support"]


@pytest.mark.parametrize("scheme,prefixes", [("iob2", "BI"), ("bioes", "BIES")])
def test_entity_scores_match_seqeval_on_random_tags(scheme, prefixes):
    rng = random.Random(scheme)
    for _ in range(150):
        gold = [random_gold(rng, scheme) for _ in range(rng.randint(1, 12))]
        predicted = [random_prediction(rng, tags, prefixes) for tags in gold]
        assert_same_as_seqeval(gold, predicted)


def test_gold_spans_of_valid_tags_equal_their_chunks():
    rng = random.Random(0)
    for scheme in ("iob2", "bioes", "bmes"):
        for _ in range(300):
            tags = random_gold(rng, scheme)
            assert spans_from_tags(tags, scheme) == chunks(tags)


def test_entity_scores_match_seqeval_on_conll_test():
    from tfbert.data.tagged_readers import read_tagged

    gold = read_tagged(benchmark_data("conll2003/test.txt")).tags  # skipped without ../shared
    rng = random.Random(1)
    predicted = [random_prediction(rng, tags, "BI", ("PER", "LOC", "ORG", "MISC")) for tags in gold]
    assert_same_as_seqeval(gold, predicted)
    perfect = entity_scores([spans_from_tags(t, "iob2") for t in gold], [chunks(t) for t in gold])
    assert perfect["f1"] == 1.0 and perfect["gold_entities"] == 5648
    assert token_accuracy(gold, gold) == 1.0
