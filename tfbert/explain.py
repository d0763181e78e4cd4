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
from tfbert.inference.attributions import DEFAULT_STEPS, baseline_id, word_attributions
from tfbert.run_directory import RunDirectory
from tfbert.text.offsets import char_offsets


def explain_texts(task, texts, text_pairs=None, steps=DEFAULT_STEPS, baseline="pad"):
    """One explanation (a dict, as in the module docstring) per text, in order."""
    baseline_id(task.tokenizer, baseline)  # an unknown baseline fails before any work
    if steps < 1:
        raise ValueError(f"steps must be 1 or more, got {steps}.")
    predicted = task.predict_texts(list(texts), None if text_pairs is None else list(text_pairs))
    answers = task.postprocessor.prediction_rows(predicted)
    for i, text in enumerate(texts):
        parts = [text] if text_pairs is None else [text, text_pairs[i]]
        # A classifier's most probable label (a rejected answer's too) is explained.
        targets = (None if "probabilities" not in predicted
                   else tf.constant([int(np.argmax(predicted["probabilities"][i]))]))
        found = word_attributions(task, *[tf.constant([part]) for part in parts], targets=targets,
                                  steps=steps, baseline=baseline)
        found = {key: value[0].numpy() for key, value in found.items()}
        words = []
        for index, part in enumerate(parts):  # byte offsets -> character offsets
            in_part = found["word_text"] == index
            starts = char_offsets(part, found["word_begin"][in_part])
            stops = char_offsets(part, found["word_end"][in_part])
            values = found["word_attribution"][in_part]
            words += [{"word": part[a:b], "start": a, "end": b, "text": index,
                       "attribution": None if np.isnan(value) else float(value)}
                      for a, b, value in zip(starts, stops, values)]
        output, at_baseline = float(found["output"]), float(found["baseline_output"])
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
