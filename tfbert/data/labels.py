"""Raw label strings -> training targets: class ids, multi-hot rows, or regression scores.

A `LabelVocabulary` is the fixed list of label names a classifier predicts; label j
is output j. It is built once from the training labels (sorted, so the same data
always gives the same ids) and then stored with the model, so dev, test and
serving data are encoded against the training labels, never their own.

Labels of examples the vocabulary does not know are an error naming the file and
line, or with on_unknown="skip" are left out and counted; never dropped silently.
"""

import math

import numpy as np

_ON_UNKNOWN = ("error", "skip")
_KNOWN_LABELS_SHOWN = 20


class LabelVocabulary:
    """The label names of a classifier, in output order.

    Args:
      names: the label names; output j is names[j].
      multi_label: each example has any number of labels; a raw label such as
        "atis_flight#atis_airfare" names several, split on `separator`.
      separator: joins several labels in one raw label (multi-label only).
    """

    def __init__(self, names, multi_label=False, separator="#"):
        names = list(names)
        if not names:
            raise ValueError("a label vocabulary needs at least one label name.")
        for name in names:
            if not isinstance(name, str) or name.strip() != name or name == "":
                raise ValueError(f"label names must be non-empty strings without surrounding "
                                 f"whitespace; got {name!r}.")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"label names must be unique; repeated: {', '.join(duplicates)}.")
        if multi_label:
            _check_separator(separator)
            # A name holding the separator could never be encoded: it would be split.
            joined = [name for name in names if separator in name]
            if joined:
                raise ValueError(f"label names may not contain the separator {separator!r}: "
                                 f"{', '.join(joined)}.")
        self._names = names
        self._ids = {name: i for i, name in enumerate(names)}
        self.multi_label = bool(multi_label)
        self.separator = separator

    @classmethod
    def from_labels(cls, raw_labels, multi_label=False, separator="#"):
        """The vocabulary of the sorted unique labels in `raw_labels`.

        raw_labels: raw label strings, e.g. `TextExamples.labels` of the training
        set. With multi_label, each is split on `separator`. Empty parts (as in
        "a##b") are passed over here; `encode` reports them with file and line.
        """
        if raw_labels is None:
            raise ValueError("cannot build a label vocabulary: the examples have no labels "
                             "(was label_column set when reading them?).")
        if multi_label:
            _check_separator(separator)
        names = set()
        for raw in raw_labels:
            if multi_label:
                names.update(part for part in _split(raw, separator) if part)
            else:
                names.add(raw)
        names.discard("")
        if not names:
            raise ValueError("cannot build a label vocabulary: there are no labels.")
        return cls(sorted(names), multi_label=multi_label, separator=separator)

    @property
    def names(self):
        return list(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return (f"LabelVocabulary({self._names!r}, multi_label={self.multi_label}, "
                f"separator={self.separator!r})")

    def __eq__(self, other):
        return isinstance(other, LabelVocabulary) and self.get_config() == other.get_config()

    def get_config(self):
        return {"names": self.names, "multi_label": self.multi_label, "separator": self.separator}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def encode(self, examples, on_unknown="error"):
        """Targets of the labels of `examples` (a `TextExamples`).

        Returns (targets, kept_indices, skipped):
          targets: int32 ids [kept], or for multi-label float32 multi-hot
            [kept, len(self)], of the kept examples in order.
          kept_indices: the index in `examples` of each target row.
          skipped: how many examples were left out (only with on_unknown="skip");
            the caller reports it.
        on_unknown: "error" raises a ValueError naming the file, line and label;
          "skip" leaves out examples with any label not in the vocabulary.
        A malformed multi-label (an empty part, as in "a##b") is always an error.
        """
        if on_unknown not in _ON_UNKNOWN:
            raise ValueError(f"on_unknown must be one of {', '.join(_ON_UNKNOWN)}; "
                             f"got {on_unknown!r}.")
        if examples.labels is None:
            raise ValueError(f"{examples.source} was read without labels; set label_column "
                             f"to read them.")
        rows = []  # the label ids of each kept example
        kept = []
        unknown = []  # (index, the unknown name, the raw label) of each left-out example
        for index, raw in enumerate(examples.labels):
            ids, missing = self._ids_of(raw, examples, index)
            if missing is None:
                rows.append(ids)
                kept.append(index)
            else:
                unknown.append((index, missing, raw))
        if unknown and on_unknown == "error":
            raise ValueError(self._unknown_message(examples, unknown))

        if self.multi_label:
            targets = np.zeros((len(rows), len(self)), np.float32)
            for row, ids in enumerate(rows):
                targets[row, ids] = 1.0
        else:
            targets = np.array([ids[0] for ids in rows], np.int32)
        return targets, kept, len(unknown)

    def _ids_of(self, raw, examples, index):
        """(label ids, None), or (None, the first unknown name) for one raw label."""
        parts = _split(raw, self.separator) if self.multi_label else [raw]
        if "" in parts:
            raise ValueError(f"{_where(examples, index)}: label {raw!r} has an empty part "
                             f"(labels are joined by {self.separator!r}).")
        for part in parts:
            if part not in self._ids:
                return None, part
        return [self._ids[part] for part in parts], None

    def _unknown_message(self, examples, unknown):
        index, name, raw = unknown[0]
        within = f" (in {raw!r})" if name != raw else ""
        known = ", ".join(self._names[:_KNOWN_LABELS_SHOWN])
        if len(self) > _KNOWN_LABELS_SHOWN:
            known += f", ... ({len(self) - _KNOWN_LABELS_SHOWN} more)"
        others = (f" {len(unknown)} examples in all have unknown labels." if len(unknown) > 1
                  else "")
        return (f"{_where(examples, index)}: unknown label {name!r}{within}; known labels "
                f"({len(self)}): {known}.{others} Use on_unknown='skip' to leave such "
                f"examples out.")

    def decode(self, ids):
        """Label names of predictions: the inverse of `encode`.

        Multi-class: ids [n] -> n names. Multi-label: a 0/1 (or boolean) matrix
        [n, len(self)] -> n raw labels, the present names in vocabulary order joined
        by the separator ("" where none is present). Threshold probabilities first.
        """
        ids = np.asarray(ids)
        if not self.multi_label:
            # An empty list arrives as float64; it still decodes to no names.
            if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
                raise ValueError(f"decode expects a 1-D array of integer ids; got shape "
                                 f"{ids.shape} of {ids.dtype}.")
            bad = [int(i) for i in ids if not 0 <= i < len(self)]
            if bad:
                raise ValueError(f"label ids out of range 0..{len(self) - 1}: {bad[:10]}.")
            return [self._names[i] for i in ids]
        if ids.ndim != 2 or ids.shape[1] != len(self):
            raise ValueError(f"decode expects a multi-hot matrix [n, {len(self)}]; got shape "
                             f"{ids.shape}.")
        if not np.isin(ids, (0, 1)).all():
            raise ValueError("decode expects a 0/1 multi-hot matrix; threshold probabilities "
                             "first.")
        return [self.separator.join(self._names[j] for j in np.flatnonzero(row)) for row in ids]


def parse_scores(examples, min_value=None, max_value=None):
    """Regression targets: the labels of `examples` as float32 [n].

    A label that is not a finite number, or lies outside [min_value, max_value]
    (either bound may be None), is a ValueError naming the file and line.
    """
    if examples.labels is None:
        raise ValueError(f"{examples.source} was read without labels; set label_column "
                         f"to read the scores.")
    scores = np.zeros([len(examples.labels)], np.float32)
    for index, raw in enumerate(examples.labels):
        try:
            score = float(raw)
        except ValueError:
            raise ValueError(f"{_where(examples, index)}: score {raw!r} is not a number.") from None
        if not math.isfinite(score):
            raise ValueError(f"{_where(examples, index)}: score {raw!r} is not a finite number.")
        if (min_value is not None and score < min_value) or (
                max_value is not None and score > max_value):
            raise ValueError(f"{_where(examples, index)}: score {raw!r} is outside the range "
                             f"[{min_value}, {max_value}].")
        scores[index] = score
    return scores


def _check_separator(separator):
    if not isinstance(separator, str) or separator == "":
        raise ValueError(f"a multi-label vocabulary needs a non-empty separator; got {separator!r}.")


def _split(raw, separator):
    return [part.strip() for part in raw.split(separator)]


def _where(examples, index):
    return f"{examples.source}, line {examples.line_numbers[index]}"
