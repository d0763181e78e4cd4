import re

import numpy as np
import pytest

from conftest import benchmark_data
from tfbert.data.labels import LabelVocabulary, parse_scores
from tfbert.data.readers import TextExamples, read_examples


def raises(error, *fragments):
    """pytest.raises matching every fragment, in order, anywhere in the message."""
    return pytest.raises(error, match="(?s)" + ".*".join(re.escape(f) for f in fragments))


def examples_with(labels, source="data.tsv"):
    """Examples as a file with a header line would give them: row i on line i + 2."""
    return TextExamples(texts=[f"text {i}" for i in range(len(labels))], text_pairs=None,
                        labels=None if labels is None else list(labels), source=source,
                        line_numbers=[i + 2 for i in range(len(labels or []))])


# Building a vocabulary ----------------------------------------------------------------


def test_from_labels_sorted_unique():
    vocabulary = LabelVocabulary.from_labels(["pos", "neg", "pos", "neutral"])
    assert vocabulary.names == ["neg", "neutral", "pos"]
    assert len(vocabulary) == 3
    assert not vocabulary.multi_label


def test_from_labels_multi_label_splits():
    vocabulary = LabelVocabulary.from_labels(["b#a", "c", "a # c"], multi_label=True)
    assert vocabulary.names == ["a", "b", "c"]


def test_from_labels_without_labels():
    with raises(ValueError, "no labels", "label_column"):
        LabelVocabulary.from_labels(None)
    with raises(ValueError, "no labels"):
        LabelVocabulary.from_labels([])


def test_config_round_trip():
    vocabulary = LabelVocabulary(["z", "a"], multi_label=True, separator="|")
    config = vocabulary.get_config()
    assert config == {"names": ["z", "a"], "multi_label": True, "separator": "|"}
    assert LabelVocabulary.from_config(config) == vocabulary
    assert vocabulary.names == ["z", "a"]  # the given order is the output order


@pytest.mark.parametrize("names, kwargs, message", [
    ([], {}, "at least one"),
    (["a", "a", "b"], {}, "repeated: a"),
    (["a", ""], {}, "non-empty"),
    (["a", " b"], {}, "whitespace"),
    (["a", 1], {}, "strings"),
    (["a", "b#c"], {"multi_label": True}, "separator '#'"),
    (["a"], {"multi_label": True, "separator": ""}, "non-empty separator"),
])
def test_invalid_names(names, kwargs, message):
    with raises(ValueError, message):
        LabelVocabulary(names, **kwargs)


def test_names_cannot_be_changed_from_outside():
    vocabulary = LabelVocabulary(["a", "b"])
    vocabulary.names.append("c")
    assert len(vocabulary) == 2


# Encoding -----------------------------------------------------------------------------


def test_encode_multi_class():
    vocabulary = LabelVocabulary(["neg", "pos"])
    targets, kept, skipped = vocabulary.encode(examples_with(["pos", "neg", "pos"]))
    assert targets.dtype == np.int32
    assert targets.tolist() == [1, 0, 1]
    assert kept == [0, 1, 2]
    assert skipped == 0


def test_encode_multi_label():
    vocabulary = LabelVocabulary(["atis_airfare", "atis_flight", "atis_meal"], multi_label=True)
    targets, kept, skipped = vocabulary.encode(
        examples_with(["atis_flight#atis_airfare", "atis_meal", "atis_airfare#atis_flight"]))
    assert targets.dtype == np.float32
    assert targets.tolist() == [[1, 1, 0], [0, 0, 1], [1, 1, 0]]
    assert (kept, skipped) == ([0, 1, 2], 0)


def test_encode_unknown_label_is_an_error_naming_file_and_line():
    vocabulary = LabelVocabulary(["neg", "pos"])
    with raises(ValueError, "dev.tsv, line 3", "unknown label 'neutral'", "known labels (2): neg, pos",
                "2 examples in all", "on_unknown='skip'"):
        vocabulary.encode(examples_with(["pos", "neutral", "neutral"], source="dev.tsv"))


def test_encode_unknown_lists_at_most_20_known_labels():
    vocabulary = LabelVocabulary([f"label{i:02d}" for i in range(25)])
    with pytest.raises(ValueError) as error:
        vocabulary.encode(examples_with(["other"]))
    message = str(error.value)
    assert "label19" in message and "label20" not in message
    assert "(5 more)" in message


def test_encode_unknown_part_of_a_multi_label():
    vocabulary = LabelVocabulary(["a", "b"], multi_label=True)
    with raises(ValueError, "line 2", "unknown label 'x' (in 'a#x')"):
        vocabulary.encode(examples_with(["a#x"]))


def test_encode_skip_reports_what_it_left_out():
    vocabulary = LabelVocabulary(["a", "b"], multi_label=True)
    targets, kept, skipped = vocabulary.encode(examples_with(["a", "a#x", "y", "b#a"]),
                                               on_unknown="skip")
    assert targets.tolist() == [[1, 0], [1, 1]]
    assert kept == [0, 3]
    assert skipped == 2


def test_encode_skip_everything_gives_empty_targets():
    targets, kept, skipped = LabelVocabulary(["a"]).encode(examples_with(["b"]), on_unknown="skip")
    assert targets.shape == (0,) and targets.dtype == np.int32
    assert (kept, skipped) == ([], 1)


def test_encode_empty_part_is_always_an_error():
    vocabulary = LabelVocabulary(["a", "b"], multi_label=True)
    with raises(ValueError, "line 3", "'a##b' has an empty part"):
        vocabulary.encode(examples_with(["a", "a##b"]), on_unknown="skip")


def test_encode_without_labels_or_bad_option():
    vocabulary = LabelVocabulary(["a"])
    with raises(ValueError, "test.tsv", "without labels"):
        vocabulary.encode(TextExamples(["t"], None, None, "test.tsv", [2]))
    with raises(ValueError, "on_unknown", "'ignore'"):
        vocabulary.encode(examples_with(["a"]), on_unknown="ignore")


# Decoding -----------------------------------------------------------------------------


def test_decode_multi_class():
    vocabulary = LabelVocabulary(["neg", "pos"])
    assert vocabulary.decode(np.array([1, 0, 1])) == ["pos", "neg", "pos"]
    assert vocabulary.decode([]) == []
    with raises(ValueError, "out of range", "[2]"):
        vocabulary.decode([0, 2])
    with raises(ValueError, "integer ids"):
        vocabulary.decode([0.5])


def test_decode_multi_label_inverts_encode():
    vocabulary = LabelVocabulary(["a", "b", "c"], multi_label=True)
    targets, _, _ = vocabulary.encode(examples_with(["c#a", "b"]))
    assert vocabulary.decode(targets) == ["a#c", "b"]
    assert vocabulary.decode(np.zeros([1, 3], bool)) == [""]
    with raises(ValueError, "threshold"):
        vocabulary.decode([[0.9, 0.1, 0.0]])
    with raises(ValueError, "[n, 3]"):
        vocabulary.decode([0, 1])


# Regression scores --------------------------------------------------------------------


def test_parse_scores():
    scores = parse_scores(examples_with(["5.000", "0", " 2.5 "]), min_value=0, max_value=5)
    assert scores.dtype == np.float32
    assert scores.tolist() == [5.0, 0.0, 2.5]


@pytest.mark.parametrize("raw, message", [("high", "not a number"), ("nan", "not a finite"),
                                          ("inf", "not a finite"), ("5.5", "outside the range [0, 5]"),
                                          ("-1", "outside the range")])
def test_parse_scores_errors(raw, message):
    with raises(ValueError, "sts.tsv, line 3", repr(raw), message):
        parse_scores(examples_with(["1", raw], source="sts.tsv"), min_value=0, max_value=5)


def test_parse_scores_without_labels():
    with raises(ValueError, "without labels"):
        parse_scores(TextExamples(["t"], None, None, "x.tsv", [1]))


# The real data (../shared/data: skipped without it) ----------------------------------


def test_atis_test_labels_unseen_in_train():
    train = read_examples(benchmark_data("atis/train"))
    test = read_examples(benchmark_data("atis/test"))

    # Whole raw labels as classes: 4 test intents never occur in train, on 5 examples
    # (as the data README says). Two of them are only the reversed order of a
    # training combination ("atis_airfare#atis_flight").
    vocabulary = LabelVocabulary.from_labels(train.labels)
    targets, kept, skipped = vocabulary.encode(test, on_unknown="skip")
    assert skipped == 5
    assert len(kept) == len(targets) == 893 - 5
    with raises(ValueError, str(benchmark_data("atis/test")), "line 35", "'atis_day_name'"):
        vocabulary.encode(test)

    # Multi-label: combinations split into their parts, so only examples with a part
    # never seen in train are left out: atis_day_name, on 2 examples.
    vocabulary = LabelVocabulary.from_labels(train.labels, multi_label=True)
    assert "atis_flight" in vocabulary.names and "atis_flight#atis_airfare" not in vocabulary.names
    targets, kept, skipped = vocabulary.encode(test, on_unknown="skip")
    assert skipped == 2
    assert targets.shape == (891, len(vocabulary))
    assert sorted(set(range(len(test))) - set(kept)) == [34, 36]  # lines 35 and 37
    assert (targets.sum(axis=1) >= 1).all()


def test_stsb_scores():
    examples = read_examples(benchmark_data("stsb/dev.tsv"), text_column="sentence1",
                             text_pair_column="sentence2", label_column="score")
    scores = parse_scores(examples, min_value=0.0, max_value=5.0)
    assert scores.shape == (1500,)
    assert scores[:2].tolist() == [5.0, 4.75]
