"""Answers -> the rows `tfbert predict` writes: the pure-Python half of each task kind.

A task's named outputs (from `Task.predict` in this process, or from TF Serving) and
its plain config (kept in a run directory's task.json) are all these functions read,
so `tfbert predict --server` turns a server's answers into rows without TensorFlow.
Each task class serves its function as `prediction_rows`.
"""


def classification_rows(outputs, config):
    names = config["label_names"]
    rows = []
    for i, label in enumerate(outputs["label"]):
        if config["multi_label"]:  # the predicted labels' names, "" elsewhere
            label = [str(name) for name in outputs["labels"][i] if name]
        else:
            label = str(label)
        row = {"label": label, "probabilities": named_values(names, outputs["probabilities"][i])}
        if "rejected" in outputs:
            row["rejected"] = bool(outputs["rejected"][i])
        rows.append(row)
    return rows


def regression_rows(outputs, config):
    return [{"score": float(score)} for score in outputs["score"]]


def tagging_rows(outputs, config):
    rows = []
    for i, count in enumerate(outputs["entity_count"]):
        rows.append({"entities": [
            {"text": str(outputs["entity_text"][i][k]), "type": str(outputs["entity_type"][i][k]),
             "start": int(outputs["entity_start"][i][k]), "end": int(outputs["entity_end"][i][k])}
            for k in range(int(count))]})
    return rows


def intent_and_slots_rows(outputs, config):
    rows = tagging_rows(outputs, config)
    for i, row in enumerate(rows):
        row["intent"] = str(outputs["intent"][i])
        row["intent_probabilities"] = named_values(config["intent_names"],
                                                   outputs["intent_probabilities"][i])
    return rows


def embedding_rows(outputs, config):
    return [{"embedding": [round(float(x), 7) for x in row]} for row in outputs["embedding"]]


def named_values(names, values):
    """{name: value rounded to 6 places}: a row's probabilities by label."""
    return {name: round(float(value), 6) for name, value in zip(names, values)}
