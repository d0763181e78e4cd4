"""Why a trained model answered as it did: one attribution per word of each text.

    tfbert explain RUN --input texts.tsv --output why.html   # or why.jsonl
        [--steps 50] [--baseline pad|mask|zero] [--limit N] [--set data.KEY=VALUE]

For each text the model's answer (a classifier's label and its probability, a
regressor's score) is attributed to the input by integrated gradients on the word-piece
embeddings (`tfbert.inference.attributions`), and a word's attribution is the sum over
its word pieces: positive where the word pushed the answer up, negative where it pulled
it down. The attributions of a text add up to F(text) - F(baseline), the answer's
probability (or score) minus its value when every word is replaced by the baseline
token; `completeness_gap` says how far the sum is from that (a share of it).

Output rows (JSON lines), one per text: its file line, `text` (and `text_pair`), the
answer, `output` and `baseline_output`, `completeness_error` (|sum of attributions -
(output - baseline_output)|) and `completeness_gap` (the same as a share of
|output - baseline_output|: large when the text barely moves the answer), and
`words`: each word as
written (`word`), its character `start` / `end` in its text, `text` (0: the first
text, 1: the pair's second) and `attribution` (null for words past the model's
max_length, which it never saw). `.html`: the same as one self-contained page
(tfbert/evaluation/explanation_page.py).
"""

import json
import pathlib

import numpy as np
import tensorflow as tf

from tfbert.evaluation.explanation_page import write_page
from tfbert.inference.attributions import BASELINES, DEFAULT_STEPS, integrated_gradients
from tfbert.run_directory import RunDirectory
from tfbert.text.offsets import char_offsets


def explain_texts(task, texts, text_pairs=None, steps=DEFAULT_STEPS, baseline="pad"):
    """One explanation (a dict, as in the module docstring) per text, in order."""
    if baseline not in BASELINES:
        raise ValueError(f"baseline {baseline!r} is not one of: {', '.join(BASELINES)}.")
    if steps < 1:
        raise ValueError(f"steps must be 1 or more, got {steps}.")
    tokenizer = task.tokenizer
    baseline_id = {"pad": tokenizer.pad_id, "zero": None,
                   "mask": _vocabulary_id(tokenizer, "[MASK]")}[baseline]
    embedding = task.encoder.get_layer("embeddings").token_embedding
    predicted = task.predict_texts(list(texts), None if text_pairs is None else list(text_pairs))
    answers = task.postprocessor.prediction_rows(predicted)
    for i, text in enumerate(texts):
        parts = [_words(tokenizer, text)]
        if text_pairs is not None:
            parts.append(_words(tokenizer, text_pairs[i]))
        features = tokenizer.pack(*[tf.ragged.constant([part["ids"]], tf.int32, ragged_rank=1,
                                                       row_splits_dtype=tf.int64)
                                    for part in parts])
        ids = features["input_ids"]                                           # [1, T]
        word_of_position = _word_positions(parts, features["segment_ids"][0].numpy())
        vectors = embedding(ids)[0]                                           # [T, H]
        words_at = np.array([w >= 0 for _, w in word_of_position])            # [T]
        if baseline_id is None:
            baseline_vectors = tf.where(words_at[:, None], tf.zeros_like(vectors), vectors)
        else:
            baseline_vectors = embedding(tf.where(words_at[None], baseline_id, ids))[0]
        target = int(predicted["label_id"][i]) if "label_id" in predicted else None

        def output_of(path, features=features, target=target):
            count = tf.shape(path)[0]
            repeat = lambda key: tf.repeat(features[key], count, axis=0)  # noqa: E731
            return task.explained_output(path, repeat("segment_ids"), repeat("input_mask"), target)

        attributions, output, at_baseline = integrated_gradients(
            output_of, vectors, baseline_vectors, steps)
        # A word the model saw gets the sum of its pieces' attributions (0 for a word
        # of only removed characters, which has none); words cut off by max_length, None.
        seen = [max([w for p, w in word_of_position if p == index], default=-1)
                for index in range(len(parts))]
        words = [dict(word, text=index, attribution=0.0 if w <= seen[index] else None)
                 for index, part in enumerate(parts) for w, word in enumerate(part["words"])]
        offsets = np.cumsum([0] + [len(part["words"]) for part in parts])
        for position, (part, word) in enumerate(word_of_position):
            if word >= 0:
                words[offsets[part] + word]["attribution"] += float(attributions[position])
        change = output - at_baseline
        total = sum(w["attribution"] or 0.0 for w in words)
        row = {"text": text, **answers[i], "output": output, "baseline_output": at_baseline,
               "completeness_error": abs(total - change),
               "completeness_gap": abs(total - change) / max(abs(change), 1e-12),
               "steps": steps, "baseline": baseline, "words": words}
        if text_pairs is not None:
            row = {"text": text, "text_pair": text_pairs[i], **row}
        yield row


def explain_file(run_dir, input_path, output_path, steps=DEFAULT_STEPS, baseline="pad",
                 limit=None, data_overrides=(), log=print):
    """Explains the texts of `input_path` (read with the run's [data] columns) with
    the run's model; writes JSON lines, or a page when `output_path` ends in .html.
    Returns the number of texts explained."""
    output_path = pathlib.Path(output_path)
    if output_path.is_dir():
        raise ValueError(f"--output {output_path} is a directory: give a file name "
                                "ending in .html or .jsonl.")
    if output_path.suffix not in (".html", ".jsonl"):
        raise ValueError(f"--output {output_path}: the name must end in .html or .jsonl.")
    if not output_path.parent.is_dir():
        raise FileNotFoundError(f"--output {output_path}: the folder {output_path.parent} "
                                "does not exist.")
    run = RunDirectory(run_dir)
    recipe = run.recipe(data_overrides)
    examples = recipe.read_examples(input_path, labels=False)
    count = len(examples) if limit is None else min(limit, len(examples))
    if not count:
        raise ValueError(f"{input_path}: no texts to explain.")
    task = run.load_task()
    pairs = None if examples.text_pairs is None else examples.text_pairs[:count]
    rows = []
    for i, row in enumerate(explain_texts(task, examples.texts[:count], pairs, steps, baseline)):
        rows.append({"source": examples.source, "line": examples.line_numbers[i], **row})
        if (i + 1) % 10 == 0:
            log(f"explained {i + 1} of {count} texts")
    if output_path.suffix == ".html":
        write_page(rows, output_path, title=f"Why {run.path.name} answered as it did")
    else:
        temporary = output_path.with_name(output_path.name + ".tmp")
        temporary.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                             encoding="utf-8")
        temporary.replace(output_path)
    gaps = [row["completeness_gap"] for row in rows]
    errors = [row["completeness_error"] for row in rows]
    log(f"wrote {output_path}: {count} texts; completeness gap (|sum of attributions - "
        f"(output - baseline output)|, a share of the latter) median {np.median(gaps):.2%}, "
        f"max {max(gaps):.2%}; largest absolute {max(errors):.4f} ({steps} steps; more steps "
        "lower it)")
    return count


def _vocabulary_id(tokenizer, token):
    try:
        return tokenizer.vocabulary.index(token)
    except ValueError:
        raise ValueError(f"the baseline 'mask' needs {token} in the vocabulary, which this "
                         "model's has not; use 'pad' or 'zero'.") from None


def _words(tokenizer, text):
    """A text's words as the tokenizer splits it, with character offsets and pieces."""
    words, begins, ends = tokenizer.split_words_with_offsets(tf.constant([text]))
    pieces = tokenizer.tokenize_words(words)[0]                              # [(words), (pieces)]
    starts = char_offsets(text, begins[0].numpy())
    stops = char_offsets(text, ends[0].numpy())
    per_word = pieces.to_list()
    return {"words": [{"word": text[a:b], "start": a, "end": b} for a, b in zip(starts, stops)],
            "pieces_per_word": [len(p) for p in per_word],
            "ids": [i for p in per_word for i in p]}


def _word_positions(parts, segment_ids):
    """Per position of the packed row: (part, word index), word -1 at [CLS], [SEP] and
    padding. The pack keeps each part's first pieces (longest-first truncation)."""
    kept = [int(np.sum(segment_ids == 0)) - 2]
    if len(parts) > 1:
        kept.append(int(np.sum(segment_ids == 1)) - 1)
    positions = [(0, -1)]  # [CLS]
    for p, part in enumerate(parts):
        word_of_piece = np.repeat(np.arange(len(part["words"])), part["pieces_per_word"])
        positions += [(p, int(w)) for w in word_of_piece[:kept[p]]] + [(p, -1)]  # its [SEP]
    return positions + [(0, -1)] * (len(segment_ids) - len(positions))
