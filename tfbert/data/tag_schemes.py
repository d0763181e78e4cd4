"""Tag schemes: turning per-word tags (B-PER, I-PER, O, ...) into entity spans and back.

A tagged sentence marks each entity by a prefix on every word's tag; a scheme is the
grammar of those prefixes:

  iob1:  I-X continues or starts an X entity; B-X only separates two touching X entities.
  iob2:  B-X starts an entity, I-X continues it (CoNLL-2003, ATIS, SNIPS).
  bioes: B-X begins, I-X continues, E-X ends a longer entity; S-X is a one-word entity.
  bmes:  bioes with M-X for the middle words (Chinese NER such as Resume).

Gold tags are read strictly (`spans_from_tags`): a sequence the declared scheme does not
allow is a `TagSequenceError` naming the word, because a wrong scheme or a broken file
would otherwise silently change every entity count. Predicted tags are read leniently
(`chunks`, conlleval's rules), since a model may emit any sequence and must still be scored.

A span is (type, start, end): the words start .. end - 1, end exclusive.
"""

SCHEMES = ("iob1", "iob2", "bioes", "bmes")
_NAME = {"iob1": "IOB1", "iob2": "IOB2", "bioes": "BIOES", "bmes": "BMES"}
_PREFIXES = {"iob1": "BIO", "iob2": "BIO", "bioes": "BIESO", "bmes": "BMESO"}
# The prefix of a word inside an entity, neither first nor last.
_INSIDE = {"iob1": "I", "iob2": "I", "bioes": "I", "bmes": "M"}
# Which scheme to declare when a tag's prefix does not belong to the declared one.
_HINT = {"I": "iob2 or bioes", "E": "bioes or bmes", "S": "bioes or bmes", "M": "bmes"}


class TagSequenceError(ValueError):
    """A tag, or a tag after another, that the scheme does not allow.

    index: the 0-based word index of the offending tag (None when a tag name alone is
    checked), so a reader can say which line and word of a file hold it.
    """

    def __init__(self, index, message):
        super().__init__(message)
        self.index = index


def split_tag(tag):
    """("B", "PER") for "B-PER", ("O", None) for "O". Splits on the first "-" only
    (ATIS types hold dots and underscores, "B-fromloc.city_name")."""
    return _split(tag, None)


def _split(tag, index):
    if tag == "O":
        return "O", None
    prefix, dash, type_ = str(tag).partition("-")
    if dash and prefix in "BIMES" and len(prefix) == 1 and type_:
        return prefix, type_
    raise TagSequenceError(index, f"{tag!r} is not a tag: expected 'O' or a prefix B-, I-, M-, "
                                  f"E- or S- followed by a type, as in 'B-PER'.")


def _check_scheme(scheme, allowed=SCHEMES):
    if scheme not in allowed:
        raise ValueError(f"unknown tag scheme {scheme!r}; valid schemes: {', '.join(allowed)}.")


def model_scheme(scheme):
    """The scheme a model is trained in: iob1 data is rewritten as iob2, whose B- on every
    entity start gives each tag one meaning (I- in iob1 can start or continue an entity)."""
    _check_scheme(scheme)
    return "iob2" if scheme == "iob1" else scheme


def _open_after(scheme, prefix, type_):
    """The entity type still open after a tag, or None when no entity is open."""
    return type_ if prefix in ("B", _INSIDE[scheme]) else None


def _continues(scheme, prefix):
    """Whether a tag can only continue an open entity of its type (I-/M-/E-)."""
    return prefix in (_INSIDE[scheme], "E")


def _closes_implicitly(scheme):
    """Whether an entity ends by itself when a non-continuing tag follows (no E- in IOB)."""
    return "E" not in _PREFIXES[scheme]


def spans_from_tags(tags, scheme):
    """The entity spans of gold tags, read strictly in `scheme`; raises TagSequenceError."""
    _check_scheme(scheme)
    name, inside = _NAME[scheme], _INSIDE[scheme]
    spans, open_type, start = [], None, 0
    for k, tag in enumerate(tags):
        prefix, type_ = _split(tag, k)
        if prefix not in _PREFIXES[scheme]:
            uses = ", ".join(p + "-" if p != "O" else "O" for p in _PREFIXES[scheme])
            raise TagSequenceError(k, f"{tag!r} does not occur in {name}, which uses {uses}; "
                                      f"{prefix}- belongs to {_HINT[prefix]}: declare that scheme.")
        where = f"follows {tags[k - 1]!r}" if k else "starts the sentence"
        if scheme == "iob1" and prefix == "I" and open_type != type_:
            prefix = "B"  # iob1: an I- that continues nothing starts an entity
        if _continues(scheme, prefix):
            if open_type is None:
                advice = ('; declare scheme = "iob1" to read I- as a start' if scheme == "iob2"
                          else f" (a one-word entity is S-{type_})")
                raise TagSequenceError(k, f"{tag!r} {where}: in {name} an entity starts with "
                                          f"B-{advice}.")
            if open_type != type_:
                ends = f" or E-{open_type}" if "E" in _PREFIXES[scheme] else ""
                raise TagSequenceError(k, f"{tag!r} {where}: the open {open_type} entity "
                                          f"continues only with {inside}-{open_type}{ends}.")
        elif open_type is not None:
            if not _closes_implicitly(scheme):
                raise TagSequenceError(k, f"{tag!r} {where}: in {name} the open {open_type} "
                                          f"entity must end with E-{open_type} first.")
            spans.append((open_type, start, k))
            open_type = None
        if prefix == "B":
            open_type, start = type_, k
        elif prefix == "S":
            spans.append((type_, k, k + 1))
        elif prefix == "E":
            spans.append((type_, start, k + 1))
            open_type = None
    if open_type is not None:
        if not _closes_implicitly(scheme):
            raise TagSequenceError(len(tags) - 1, f"the sentence ends inside the {open_type} "
                                                  f"entity ({tags[-1]!r}); in {name} it must "
                                                  f"end with E-{open_type}.")
        spans.append((open_type, start, len(tags)))
    return spans


def tags_from_spans(spans, length, scheme):
    """Tags for `length` words marking `spans` in iob2, bioes or bmes (the model schemes)."""
    _check_scheme(scheme, ("iob2", "bioes", "bmes"))
    tags = ["O"] * length
    for type_, start, end in spans:
        if not 0 <= start < end <= length:
            raise ValueError(f"span {(type_, start, end)!r} does not fit a sentence of "
                             f"{length} words.")
        if any(tag != "O" for tag in tags[start:end]):
            raise ValueError(f"span {(type_, start, end)!r} overlaps another span.")
        if scheme == "iob2":
            tags[start:end] = [f"B-{type_}"] + [f"I-{type_}"] * (end - start - 1)
        elif end - start == 1:
            tags[start] = f"S-{type_}"
        else:
            middle = [f"{_INSIDE[scheme]}-{type_}"] * (end - start - 2)
            tags[start:end] = [f"B-{type_}"] + middle + [f"E-{type_}"]
    return tags


def chunks(tags):
    """The entities of predicted tags in any scheme, read leniently as conlleval does.

    A model may predict 'I-PER' after 'O', or 'B-PER' never closed by 'E-PER'; each still
    counts as an entity, so scores stay comparable with conlleval and seqeval.
    """
    found = []
    previous, previous_type, start = "O", None, 0
    # A closing "O" ends the last entity.
    for k, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split(tag, k)
        prefix = "I" if prefix == "M" else prefix
        if _chunk_ends(previous, previous_type, prefix, type_):
            found.append((previous_type, start, k))
        if _chunk_starts(previous, previous_type, prefix, type_):
            start = k
        previous, previous_type = prefix, type_
    return found


def _chunk_ends(previous, previous_type, prefix, type_):
    """conlleval's end of chunk: the entity of the previous tag ends before this one."""
    if previous == "O":
        return False
    return previous in "ES" or prefix in "BSO" or previous_type != type_


def _chunk_starts(previous, previous_type, prefix, type_):
    """conlleval's start of chunk: this tag begins an entity."""
    if prefix == "O":
        return False
    return prefix in "BS" or previous in "ESO" or previous_type != type_


def allowed_transitions(tag_names, scheme):
    """Which tag may follow which, for a CRF that must only predict valid sequences.

    Returns (allowed, allowed_start, allowed_end): allowed[i][j] says whether tag_names[j]
    may follow tag_names[i]; allowed_start[j] whether a sentence may start with it;
    allowed_end[i] whether it may end with it. Exactly the sequences that
    `spans_from_tags` accepts in `scheme` use only allowed steps.
    """
    _check_scheme(scheme, ("iob2", "bioes", "bmes"))
    parts = []
    for index, tag in enumerate(tag_names):
        prefix, type_ = _split(tag, index)
        if prefix not in _PREFIXES[scheme]:
            raise ValueError(f"tag {tag!r} cannot occur in {_NAME[scheme]}; give the tag names "
                             f"of the {scheme} scheme.")
        parts.append((prefix, type_))

    def may_follow(open_type, prefix, type_):
        if _continues(scheme, prefix):
            return open_type == type_
        return open_type is None or _closes_implicitly(scheme)

    opens = [_open_after(scheme, prefix, type_) for prefix, type_ in parts]
    allowed = [[may_follow(open_type, *part) for part in parts] for open_type in opens]
    allowed_start = [may_follow(None, *part) for part in parts]
    allowed_end = [open_type is None or _closes_implicitly(scheme) for open_type in opens]
    return allowed, allowed_start, allowed_end
