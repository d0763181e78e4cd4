import itertools
import re

import pytest

from conftest import benchmark_data
from tfbert.data.tag_schemes import (SCHEMES, TagSequenceError, allowed_transitions, chunks,
                                     model_scheme, spans_from_tags, split_tag, tags_from_spans)


def raises(error, *fragments):
    """pytest.raises matching every fragment, in order, anywhere in the message."""
    return pytest.raises(error, match="(?s)" + ".*".join(re.escape(f) for f in fragments))


def error_index(tags, scheme):
    with pytest.raises(TagSequenceError) as caught:
        spans_from_tags(tags, scheme)
    return caught.value.index


# Tag names ---------------------------------------------------------------------------


def test_split_tag():
    assert split_tag("O") == ("O", None)
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("B-fromloc.city_name") == ("B", "fromloc.city_name")
    assert split_tag("I-a-b") == ("I", "a-b")  # split on the first "-" only
    for tag in ("M-ORG", "E-x", "S-y"):
        assert split_tag(tag)[0] == tag[0]


@pytest.mark.parametrize("tag", ["PER", "X-PER", "B-", "", "o", "BB-PER", "-PER", "O-PER"])
def test_split_tag_rejects_malformed_names(tag):
    with raises(TagSequenceError, repr(tag), "B-PER") as caught:
        split_tag(tag)
    assert isinstance(caught.value, ValueError)


def test_unknown_scheme():
    with raises(ValueError, "'bio'", "iob1, iob2, bioes, bmes"):
        spans_from_tags(["O"], "bio")


# Strict reading ----------------------------------------------------------------------


def test_iob2_spans():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-fromloc.city_name"]
    assert spans_from_tags(tags, "iob2") == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6),
                                             ("fromloc.city_name", 6, 7)]
    assert spans_from_tags([], "iob2") == []
    assert spans_from_tags(["O", "O"], "iob2") == []


def test_i_without_b_is_a_span_in_iob1_and_an_error_in_iob2():
    tags = ["O", "I-PER", "I-PER", "O"]
    assert spans_from_tags(tags, "iob1") == [("PER", 1, 3)]
    with raises(TagSequenceError, "'I-PER' follows 'O'", "in IOB2 an entity starts with B-",
                'declare scheme = "iob1"') as caught:
        spans_from_tags(tags, "iob2")
    assert caught.value.index == 1
    with raises(TagSequenceError, "'I-PER' starts the sentence"):
        spans_from_tags(["I-PER"], "iob2")


def test_iob2_type_change_inside_an_entity():
    with raises(TagSequenceError, "'I-LOC' follows 'B-PER'", "continues only with I-PER") as caught:
        spans_from_tags(["B-PER", "I-LOC"], "iob2")
    assert caught.value.index == 1


def test_e_tag_in_an_iob2_file_is_rejected():
    with raises(TagSequenceError, "'E-PER' does not occur in IOB2", "bioes") as caught:
        spans_from_tags(["B-PER", "E-PER"], "iob2")
    assert caught.value.index == 1
    assert error_index(["O", "M-ORG"], "iob2") == 1
    assert error_index(["I-ORG"], "bmes") == 0


def test_iob1_b_separates_touching_entities():
    tags = ["I-PER", "B-PER", "I-PER", "I-LOC", "O", "B-ORG"]
    assert spans_from_tags(tags, "iob1") == [("PER", 0, 1), ("PER", 1, 3), ("LOC", 3, 4),
                                             ("ORG", 5, 6)]


def test_bioes_and_bmes_spans():
    assert spans_from_tags(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "B-X", "E-X"], "bioes") == [
        ("PER", 0, 1), ("LOC", 1, 4), ("X", 5, 7)]
    assert spans_from_tags(["B-ORG", "M-ORG", "M-ORG", "E-ORG", "S-NAME", "O"], "bmes") == [
        ("ORG", 0, 4), ("NAME", 4, 5)]


@pytest.mark.parametrize("scheme", ["bioes", "bmes"])
def test_bioes_and_bmes_errors(scheme):
    inside = "I" if scheme == "bioes" else "M"
    with raises(TagSequenceError, "ends inside the ORG entity", "E-ORG") as caught:
        spans_from_tags(["O", "B-ORG", f"{inside}-ORG"], scheme)
    assert caught.value.index == 2
    assert error_index(["B-ORG"], scheme) == 0
    with raises(TagSequenceError, "'O' follows 'B-ORG'", "must end with E-ORG first"):
        spans_from_tags(["B-ORG", "O"], scheme)
    with raises(TagSequenceError, "'E-ORG' follows 'O'", "starts with B-", "S-ORG"):
        spans_from_tags(["O", "E-ORG"], scheme)
    assert error_index(["B-ORG", "E-LOC"], scheme) == 1
    assert error_index(["B-ORG", "S-ORG"], scheme) == 1
    assert error_index(["S-ORG", f"{inside}-ORG", "E-ORG"], scheme) == 1


def test_model_scheme():
    assert [model_scheme(s) for s in SCHEMES] == ["iob2", "iob2", "bioes", "bmes"]
    with raises(ValueError, "'bilou'"):
        model_scheme("bilou")


# Writing tags ------------------------------------------------------------------------


def test_tags_from_spans():
    spans = [("PER", 0, 1), ("LOC", 2, 5)]
    assert tags_from_spans(spans, 6, "iob2") == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O"]
    assert tags_from_spans(spans, 5, "bioes") == ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]
    assert tags_from_spans(spans, 5, "bmes") == ["S-PER", "O", "B-LOC", "M-LOC", "E-LOC"]


def test_tags_from_spans_errors():
    with raises(ValueError, "overlaps"):
        tags_from_spans([("A", 0, 2), ("B", 1, 3)], 4, "iob2")
    with raises(ValueError, "does not fit a sentence of 3 words"):
        tags_from_spans([("A", 2, 4)], 3, "iob2")
    with raises(ValueError, "'iob1'"):
        tags_from_spans([], 3, "iob1")


# Lenient reading of predictions (conlleval's rules) ----------------------------------


def test_chunks_of_ill_formed_predictions():
    assert chunks(["I-PER", "I-PER", "O", "B-LOC", "I-ORG"]) == [
        ("PER", 0, 2), ("LOC", 3, 4), ("ORG", 4, 5)]
    assert chunks(["B-LOC", "I-LOC", "B-LOC", "O", "E-PER", "E-PER"]) == [
        ("LOC", 0, 2), ("LOC", 2, 3), ("PER", 4, 5), ("PER", 5, 6)]
    assert chunks(["B-ORG", "M-ORG", "O", "B-ORG"]) == [("ORG", 0, 2), ("ORG", 3, 4)]
    assert chunks(["S-A", "I-A", "E-A"]) == [("A", 0, 1), ("A", 1, 3)]
    assert chunks([]) == []


def test_chunks_rejects_only_malformed_names():
    with raises(TagSequenceError, "'PER'") as caught:
        chunks(["O", "B-PER", "PER"])
    assert caught.value.index == 2


# Allowed transitions (CRF constraints) -----------------------------------------------


def test_allowed_transitions_iob2():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed, start, end = allowed_transitions(names, "iob2")
    index = {name: i for i, name in enumerate(names)}
    assert not allowed[index["O"]][index["I-PER"]]
    assert not allowed[index["B-LOC"]][index["I-PER"]]
    assert allowed[index["B-PER"]][index["I-PER"]] and allowed[index["I-PER"]][index["I-PER"]]
    assert allowed[index["I-PER"]][index["B-LOC"]] and allowed[index["I-PER"]][index["O"]]
    assert start == [True, True, False, True, False]
    assert end == [True] * 5


def test_allowed_transitions_bioes_end_and_errors():
    names = ["O", "B-A", "I-A", "E-A", "S-A"]
    _, start, end = allowed_transitions(names, "bioes")
    assert start == [True, True, False, False, True]
    assert end == [True, False, False, True, True]
    with raises(ValueError, "'I-A'", "BMES"):
        allowed_transitions(names, "bmes")
    with raises(ValueError, "'iob1'"):
        allowed_transitions(["O"], "iob1")


# Properties, by enumerating every short sequence of a small tag set -----------------

TAG_SETS = {
    "iob2": ["O", "B-A", "I-A", "B-B", "I-B"],
    "bioes": ["O", "B-A", "I-A", "E-A", "S-A", "B-B", "E-B", "S-B"],
    "bmes": ["O", "B-A", "M-A", "E-A", "S-A", "B-B", "E-B", "S-B"],
}


def sequences(names, longest=4):
    for length in range(1, longest + 1):
        yield from (list(tags) for tags in itertools.product(names, repeat=length))


def strictly_valid(tags, scheme):
    try:
        return spans_from_tags(tags, scheme)
    except TagSequenceError:
        return None


@pytest.mark.parametrize("scheme", ["iob2", "bioes", "bmes"])
def test_strict_reading_accepts_exactly_the_allowed_transitions(scheme):
    names = TAG_SETS[scheme]
    allowed, start, end = allowed_transitions(names, scheme)
    index = {name: i for i, name in enumerate(names)}
    valid_count = 0
    for tags in sequences(names):
        ids = [index[tag] for tag in tags]
        every_step_allowed = (start[ids[0]] and end[ids[-1]]
                              and all(allowed[a][b] for a, b in zip(ids, ids[1:])))
        spans = strictly_valid(tags, scheme)
        assert (spans is not None) == every_step_allowed, tags
        if spans is not None:
            valid_count += 1
            assert chunks(tags) == spans, tags
            assert tags_from_spans(spans, len(tags), scheme) == tags, tags
    assert valid_count > 50


def test_iob1_reads_everything_and_rewrites_as_iob2():
    for tags in sequences(TAG_SETS["iob2"]):
        spans = spans_from_tags(tags, "iob1")
        assert chunks(tags) == spans, tags  # conlleval reads IOB1 as written
        rewritten = tags_from_spans(spans, len(tags), model_scheme("iob1"))
        assert spans_from_tags(rewritten, "iob2") == spans, tags


# The real benchmark files ------------------------------------------------------------


def read_tags(path, **options):
    from tfbert.data.tagged_readers import read_tagged

    return read_tagged(path, **options)


@pytest.mark.parametrize("path,scheme", [
    ("conll2003/test.txt", "iob2"),
    ("resume_ner/dev.char.bmes", "bmes"),
    ("resume_ner/test.char.bmes", "bmes"),
    ("atis/train", "iob2"), ("atis/valid", "iob2"), ("atis/test", "iob2"),
    ("snips/train", "iob2"), ("snips/valid", "iob2"), ("snips/test", "iob2"),
])
def test_real_files_are_valid_in_their_scheme(path, scheme):
    examples = read_tags(benchmark_data(path))  # ../shared/data: skipped without it
    spans = [spans_from_tags(tags, scheme) for tags in examples.tags]
    assert sum(map(len, spans)) > 0
    assert spans == [chunks(tags) for tags in examples.tags]


def test_resume_train_has_two_sentences_split_inside_an_entity():
    """Lines 1836-1837 and 1893-1894 of Resume's train file break one sentence (and one
    ORG entity) across two lines; strict reading names exactly those places."""
    path = benchmark_data("resume_ner/train.char.bmes")
    examples = read_tags(path)
    broken = []
    for i, tags in enumerate(examples.tags):
        try:
            spans_from_tags(tags, "bmes")
        except TagSequenceError as error:
            broken.append(examples.location(i, error.index))
    source = str(path)
    assert broken == [f"{source}, line 1836, word 35", f"{source}, line 1837, word 1",
                      f"{source}, line 1893, word 42", f"{source}, line 1894, word 1"]
