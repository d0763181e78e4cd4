"""Scores of a tagger: entity precision, recall and F1, and per-word tag accuracy.

An entity counts as found only if a predicted span has exactly its type, first and
last word (conlleval's definition, the one CoNLL-2003 results are reported in).
Numbers are micro-averaged: every entity of the data weighs the same, whatever its
type. Spans come from `tfbert.data.tag_schemes` (`spans_from_tags` for gold tags,
`chunks` for predicted ones); 0/0 is scored 0.0.
"""

import collections


def _ratio(part, whole):
    return part / whole if whole else 0.0


def _f1(precision, recall):
    return _ratio(2 * precision * recall, precision + recall)


def entity_scores(gold_spans, predicted_spans):
    """Entity scores from one list of (type, start, end) spans per sentence.

    Returns {"precision", "recall", "f1", "gold_entities", "predicted_entities",
    "correct_entities", "per_type": {type: {"precision", "recall", "f1", "support"}}},
    where support is the number of gold entities of the type.
    """
    if len(gold_spans) != len(predicted_spans):
        raise ValueError(f"entity scores need one span list per sentence on each side; got "
                         f"{len(gold_spans)} gold and {len(predicted_spans)} predicted sentences.")
    gold, predicted, correct = (collections.Counter() for _ in range(3))
    for gold_sentence, predicted_sentence in zip(gold_spans, predicted_spans):
        # A span is (type, start, end); sets, since one sentence cannot hold a span twice.
        gold_set = {tuple(span) for span in gold_sentence}
        predicted_set = {tuple(span) for span in predicted_sentence}
        gold.update(type_ for type_, _, _ in gold_set)
        predicted.update(type_ for type_, _, _ in predicted_set)
        correct.update(type_ for type_, _, _ in gold_set & predicted_set)
    per_type = {}
    for type_ in sorted(gold.keys() | predicted.keys()):
        precision = _ratio(correct[type_], predicted[type_])
        recall = _ratio(correct[type_], gold[type_])
        per_type[type_] = {"precision": precision, "recall": recall,
                           "f1": _f1(precision, recall), "support": gold[type_]}
    totals = {name: sum(counts.values()) for name, counts in
              (("gold", gold), ("predicted", predicted), ("correct", correct))}
    precision = _ratio(totals["correct"], totals["predicted"])
    recall = _ratio(totals["correct"], totals["gold"])
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "gold_entities": totals["gold"], "predicted_entities": totals["predicted"],
            "correct_entities": totals["correct"], "per_type": per_type}


def token_accuracy(gold_tags, predicted_tags):
    """The share of words whose predicted tag equals the gold tag (0.0 for no words)."""
    if len(gold_tags) != len(predicted_tags):
        raise ValueError(f"token accuracy needs one tag list per sentence on each side; got "
                         f"{len(gold_tags)} gold and {len(predicted_tags)} predicted sentences.")
    words = correct = 0
    for i, (gold, predicted) in enumerate(zip(gold_tags, predicted_tags)):
        if len(gold) != len(predicted):
            raise ValueError(f"sentence {i + 1}: {len(gold)} gold tags but {len(predicted)} "
                             f"predicted; a prediction needs one tag per word.")
        words += len(gold)
        correct += sum(g == p for g, p in zip(gold, predicted))
    return _ratio(correct, words)
