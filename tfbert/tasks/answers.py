"""Answers: the pure-Python half of each task kind's postprocessor.

A task's named outputs (from `Task.predict` in this process, or from TF Serving) and
its plain config (kept in a run directory's task.json) are all an `Answers` reads:

    export_assets    the files the export ships and `postprocess` reads (label names)
    prediction_rows  named outputs -> one JSON-able dict per example (`tfbert predict`)
    score_outputs    gold targets + named outputs -> (metrics, one report row per example)
    metric_summary   metrics -> the lines the terminal shows
    baseline_plan    what the bag-of-words baseline fits and how it is scored, or None

No TensorFlow: `tfbert predict --server` turns a server's answers into rows, and a
run's baseline is fitted, without it. Each kind's postprocessor (its module in
`tfbert/tasks/`) extends its class here with the TensorFlow half (`postprocess`).
Metrics come from scikit-learn, imported where a score is computed (a server client
needs no scikit-learn).
"""

import numpy as np


# `tfbert predict` rows name every label's probability below this many labels, else
# the TOP_K most likely: 77 banking intents would be 2.6 KB a row.
ALL_LABELS_BELOW = 20
TOP_K = 5


def default_top_k(label_count):
    """How many probabilities a prediction row holds by default (None: all)."""
    return None if label_count < ALL_LABELS_BELOW else TOP_K


class Answers:
    """Base class: the defaults of a kind with no assets, summary or baseline."""

    def __init__(self, config):
        self.config = config

    def export_assets(self):
        """{file name: list of lines} that the export ships and postprocess reads."""
        return {}

    def prediction_rows(self, outputs, top_k=None):
        """One JSON-able dict per example; `top_k`: only the k most likely labels'
        probabilities (None: all of them)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how outputs become rows.")

    def default_top_k(self):
        """`top_k` for `tfbert predict` rows when none is asked for (None: all)."""
        return None

    def score_outputs(self, targets, outputs):
        """(metrics dict, one dict of fields per example for predictions.jsonl)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how outputs are scored.")

    def metric_summary(self, metrics):
        """[(display name, value)]: the main numbers of `metrics` for the terminal."""
        return [(key, value) for key, value in metrics.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)]

    @classmethod
    def baseline_plan(cls, section, read_train, on_unknown="error"):
        """A `tfbert.evaluation.baseline.BaselinePlan` (the targets a TF-IDF + linear model
        fits on the training examples, which `read_train()` reads, and how its dev and
        test predictions are scored), or None: no bag-of-words baseline for this kind
        (the training file is then not read)."""
        return None


def named_values(names, values, top_k=None):
    """{name: value rounded to 6 places}: a row's probabilities by label, in label order;
    with `top_k`, the k highest only, highest first."""
    pairs = list(zip(names, values))
    if top_k is not None:
        pairs = sorted(pairs, key=lambda pair: -float(pair[1]))[:top_k]
    return {name: round(float(value), 6) for name, value in pairs}


class ClassificationAnswers(Answers):
    LABELS_FILE = "labels.txt"

    def __init__(self, config):
        super().__init__(config)
        self.label_names = list(config["label_names"])
        self.multi_label = bool(config["multi_label"])
        self.reject_label = config.get("reject_label", "")
        self.reject_below = config.get("reject_below", 0.0)
        self.temperature = config.get("temperature", 1.0)

    @property
    def out_of_scope_id(self):
        """The id a rejected answer gets: reject_label's index, or -1 when it is not a label."""
        return self.label_names.index(self.reject_label) if self.reject_label in self.label_names else -1

    def export_assets(self):
        for name in self.label_names:
            if "\n" in name or "\r" in name:
                raise ValueError(f"label name {name!r} contains a line break; {self.LABELS_FILE} "
                                 "holds one label a line.")
        return {self.LABELS_FILE: self.label_names}

    def default_top_k(self):
        return default_top_k(len(self.label_names))

    def prediction_rows(self, outputs, top_k=None):
        rows = []
        for i, label in enumerate(outputs["label"]):
            if self.multi_label:  # the predicted labels' names, "" elsewhere
                label = [str(name) for name in outputs["labels"][i] if name]
            else:
                label = str(label)
            row = {"label": label,
                   "probabilities": named_values(self.label_names, outputs["probabilities"][i], top_k)}
            if "rejected" in outputs:
                row["rejected"] = bool(outputs["rejected"][i])
            rows.append(row)
        return rows

    def score_outputs(self, targets, outputs):
        from tfbert.evaluation.metrics import (classification_metrics, multilabel_metrics,
                                               out_of_scope_metrics)

        if self.multi_label:
            truth = np.asarray(targets).astype(bool)
            metrics = multilabel_metrics(truth, outputs["labels"] != "", self.label_names)
            gold = [[name for name, present in zip(self.label_names, row) if present]
                    for row in truth]
            same = lambda gold, predicted: sorted(gold) == sorted(predicted)  # noqa: E731
        elif self.reject_label:
            # Out of scope is one more class for the per-class report: its own index
            # when reject_label is not a trained label.
            names = self.label_names + ([self.reject_label] if self.out_of_scope_id == -1 else [])
            oos = len(names) - 1 if self.out_of_scope_id == -1 else self.out_of_scope_id
            truth = np.where(np.asarray(targets) < 0, oos, targets)
            predicted = np.where(np.asarray(outputs["label_id"]) < 0, oos, outputs["label_id"])
            metrics = {**classification_metrics(truth, predicted, names),
                       **out_of_scope_metrics(truth == oos, predicted == oos, truth == predicted),
                       "reject_below": self.reject_below}
            gold = [names[i] for i in truth]
            same = lambda gold, predicted: gold == predicted  # noqa: E731
        else:
            metrics = classification_metrics(targets, outputs["label_id"], self.label_names)
            gold = [self.label_names[i] for i in targets]
            same = lambda gold, predicted: gold == predicted  # noqa: E731
        rows = [{"label": expected, "predicted": row["label"],
                 "correct": same(expected, row["label"]), "probabilities": row["probabilities"]}
                for expected, row in zip(gold, self.prediction_rows(outputs))]
        if "logits" in outputs:
            metrics["calibration"] = self.calibration(targets, outputs)
        return metrics, rows

    def calibration(self, targets, outputs):
        """How well the probabilities match how often they are right: ECE, Brier score
        and log loss at the model's temperature, and at 1 (the logits as trained) when
        it differs; the reliability table of each (tfbert/evaluation/calibration.py).
        Out-of-scope examples (target -1) have no class: they are left out."""
        from tfbert.evaluation.calibration import apply_temperature, calibration_metrics

        targets, logits = np.asarray(targets), np.asarray(outputs["logits"])
        probabilities = np.asarray(outputs["probabilities"])
        if not self.multi_label:
            scored = targets >= 0
            targets, logits, probabilities = targets[scored], logits[scored], probabilities[scored]
        result = {"temperature": self.temperature,
                  **calibration_metrics(probabilities, targets, self.multi_label)}
        if np.any(np.asarray(self.temperature) != 1.0):
            result["uncalibrated"] = calibration_metrics(
                apply_temperature(logits, 1.0, self.multi_label), targets, self.multi_label)
        return result

    def metric_summary(self, metrics):
        summary = [("exact match" if self.multi_label else "accuracy", metrics["accuracy"])]
        if "f1" in metrics:
            summary.append((f"F1 of {self.label_names[1]!r}", metrics["f1"]))
        for average in ("macro", "micro", "weighted", "samples"):
            if f"{average}_f1" in metrics:
                summary.append((f"{average} F1", metrics[f"{average}_f1"]))
        calibration = metrics.get("calibration")
        if calibration:
            summary += [("ECE (15 bins)", calibration["ece"]), ("Brier score", calibration["brier"])]
            if "uncalibrated" in calibration:
                summary.append(("ECE before calibration", calibration["uncalibrated"]["ece"]))
        if "in_scope_accuracy" in metrics:
            summary += [(f"in-scope accuracy (reject_below {metrics['reject_below']:.4f})",
                         metrics["in_scope_accuracy"]),
                        ("in-scope rejected", metrics["in_scope_rejected"])]
            if metrics["out_of_scope_recall"] is not None:
                summary.append((f"{self.reject_label!r} recall", metrics["out_of_scope_recall"]))
        return summary

    @classmethod
    def baseline_plan(cls, section, read_train, on_unknown="error"):
        """Label ids (multi-hot for multi-label) with the training labels' vocabulary;
        dev and test rows of the reject label are one more class, which a linear model
        that cannot reject never predicts (scored as the BERT run scores them)."""
        from tfbert.data.labels import LabelVocabulary
        from tfbert.evaluation.baseline import BaselinePlan
        from tfbert.evaluation.metrics import classification_metrics, multilabel_metrics

        train_examples = read_train()
        vocabulary = LabelVocabulary.from_labels(train_examples.labels, multi_label=section.multi_label,
                                                 separator=section.label_separator)
        train_targets = vocabulary.encode(train_examples)[0]
        if section.rejects and section.reject_label not in vocabulary.names:
            vocabulary = LabelVocabulary(vocabulary.names + [section.reject_label])
        names = vocabulary.names
        if section.multi_label:
            score = lambda targets, predicted: multilabel_metrics(  # noqa: E731
                targets > 0.5, predicted > 0.5, names)
        else:
            score = lambda targets, predicted: classification_metrics(targets, predicted, names)  # noqa: E731
        return BaselinePlan(
            "classification", train_targets, multi_label=section.multi_label, score=score,
            encode=lambda examples: vocabulary.encode(
                examples, on_unknown="skip" if on_unknown != "error" else "error")[:2])


class RegressionAnswers(Answers):
    def prediction_rows(self, outputs, top_k=None):
        return [{"score": float(score)} for score in outputs["score"]]

    def score_outputs(self, targets, outputs):
        from tfbert.evaluation.metrics import regression_metrics

        metrics = regression_metrics(targets[:, 0], outputs["score"])
        return metrics, [{"label": float(gold), "predicted": float(predicted)}
                         for gold, predicted in zip(targets[:, 0], outputs["score"])]

    def metric_summary(self, metrics):
        return [("Pearson", metrics.get("pearson")), ("Spearman", metrics.get("spearman")),
                ("MSE", metrics.get("mse")), ("MAE", metrics.get("mae"))]

    @classmethod
    def baseline_plan(cls, section, read_train, on_unknown="error"):
        """Scores, ridge regression clipped to [min_score, max_score]."""
        from tfbert.data.labels import parse_scores
        from tfbert.evaluation.baseline import BaselinePlan
        from tfbert.evaluation.metrics import regression_metrics

        return BaselinePlan(
            "regression", parse_scores(read_train()), score=regression_metrics,
            encode=lambda examples: (parse_scores(examples), np.arange(len(examples))),
            min_score=section.min_score, max_score=section.max_score)


class TaggingAnswers(Answers):
    """A tagger's entities (and, with an intent head, each sentence's intent)."""

    TAGS_FILE = "tags.txt"
    INTENTS_FILE = "intents.txt"

    def __init__(self, config):
        super().__init__(config)
        self.tag_names = list(config["tag_names"])
        self.intent_names = config.get("intent_names")

    def export_assets(self):
        assets = {self.TAGS_FILE: self.tag_names}
        if self.intent_names is not None:
            assets[self.INTENTS_FILE] = self.intent_names
        return assets

    def default_top_k(self):
        return None if self.intent_names is None else default_top_k(len(self.intent_names))

    def prediction_rows(self, outputs, top_k=None):
        rows = []
        for i, count in enumerate(outputs["entity_count"]):
            row = {"entities": [
                {"text": str(outputs["entity_text"][i][k]), "type": str(outputs["entity_type"][i][k]),
                 "start": int(outputs["entity_start"][i][k]), "end": int(outputs["entity_end"][i][k])}
                for k in range(int(count))]}
            if self.intent_names is not None:
                row["intent"] = str(outputs["intent"][i])
                row["intent_probabilities"] = named_values(
                    self.intent_names, outputs["intent_probabilities"][i], top_k)
            rows.append(row)
        return rows

    def score_outputs(self, targets, outputs):
        """Entity scores (conlleval) and each sentence's row; with an intent head also the
        intent's accuracy and the sentence (frame) accuracy: intent and every slot right."""
        from tfbert.data.tag_schemes import chunks
        from tfbert.evaluation.entity_metrics import entity_scores, token_accuracy

        gold_tags, predicted_tags = targets["gold_tags"], outputs["tags"]
        gold = [chunks(tags) for tags in gold_tags]
        predicted = [chunks(tags) for tags in predicted_tags]
        metrics = entity_scores(gold, predicted)
        metrics["token_accuracy"] = token_accuracy(gold_tags, predicted_tags)

        def described(spans, words):  # word spans, end exclusive, with their words
            return [{"type": type_, "start": start, "end": end, "text": " ".join(words[start:end])}
                    for type_, start, end in spans]

        rows = [{"gold": described(g, words), "predicted": described(p, words),
                 "correct": sorted(g) == sorted(p), "tags": tags}
                for g, p, tags, words in zip(gold, predicted, predicted_tags, targets["words"])]
        if self.intent_names is None:
            return metrics, rows
        intents = [self.intent_names[i] for i in np.argmax(outputs["intent_probabilities"], -1)]
        right = [p == g for p, g in zip(intents, targets["gold_intents"])]
        metrics["intent_accuracy"] = float(np.mean(right)) if right else 0.0
        frames = [ok and row["correct"] for ok, row in zip(right, rows)]
        metrics["sentence_accuracy"] = float(np.mean(frames)) if frames else 0.0
        for row, gold_intent, intent, frame in zip(rows, targets["gold_intents"], intents, frames):
            row.update(intent=gold_intent, predicted_intent=intent, correct=frame)
        return metrics, rows

    def metric_summary(self, metrics):
        summary = []
        if "intent_accuracy" in metrics:
            summary += [("intent accuracy", metrics["intent_accuracy"]),
                        ("sentence accuracy", metrics["sentence_accuracy"])]
        summary += [("entity F1", metrics["f1"]), ("precision", metrics["precision"]),
                    ("recall", metrics["recall"]), ("token accuracy", metrics["token_accuracy"])]
        for type_, scores in sorted(metrics["per_type"].items()):
            summary.append((f"F1 of {type_}", scores["f1"]))
        return summary


class PretrainingAnswers(Answers):
    """Masked-LM (and next-sentence) scores of a held-out corpus, per sequence."""

    def score_outputs(self, targets, outputs):
        masked = float(outputs["masked"].sum())
        loss = float(outputs["loss"].sum()) / max(masked, 1.0)
        metrics = {"masked_lm_accuracy": float(outputs["restored"].sum()) / max(masked, 1.0),
                   "masked_lm_loss": loss, "perplexity": float(np.exp(min(loss, 50.0))),
                   "masked_tokens": int(masked)}
        if "next_sentence_right" in outputs:
            metrics["next_sentence_accuracy"] = float(np.mean(outputs["next_sentence_right"]))
        rows = [{key: round(float(outputs[key][i]), 4) for key in outputs}
                for i in range(len(outputs["masked"]))]
        return metrics, rows

    def metric_summary(self, metrics):
        keys = ("masked_lm_accuracy", "masked_lm_loss", "perplexity", "next_sentence_accuracy")
        return [(key.replace("_", " "), metrics[key]) for key in keys if key in metrics]


class EmbeddingAnswers(Answers):
    def prediction_rows(self, outputs, top_k=None):
        return [{"embedding": [round(float(x), 7) for x in row]} for row in outputs["embedding"]]

    def score_outputs(self, targets, outputs):
        raise ValueError("sentence embeddings have no labels to score.")
