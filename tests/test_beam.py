"""The Apache Beam pipeline (`tfbert predict RUN --runner ...`) writes the rows `tfbert
predict` writes: the run's export, raw strings in, on Beam's DirectRunner with two
worker processes (the way a Dataflow, Flink or Spark worker runs it: the SavedModel
loaded in each worker, no model object shipped from here)."""

import gzip
import json

import numpy as np
import pytest

from conftest import ROOT
from tfbert import cli
from tfbert.export import export_for_serving
from tfbert.recipe import load_recipe
from tfbert.run_directory import RunDirectory
from tfbert.tasks import TextClassifier
from tiny_models import WORDS, spread, tiny

beam = pytest.importorskip("apache_beam", reason="needs apache-beam (pip install 'tfbert[beam]'; "
                           "make test installs it)")


def texts(count, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(count)]


def rows_of(paths):
    rows = []
    for path in paths:
        data = path.read_bytes()
        text = gzip.decompress(data).decode() if path.name.endswith(".gz") else data.decode()
        rows += [json.loads(line) for line in text.splitlines()]
    return {(row["source"], row["line"]): row for row in rows}


def test_beam_pipeline_writes_the_rows_predict_writes(tmp_path):
    encoder, tokenizer = tiny()
    model = spread(TextClassifier(encoder, tokenizer, ["negative", "positive", "neutral"]))
    run = RunDirectory(tmp_path / "run")
    run.start(load_recipe(ROOT / "recipes" / "sentiment.toml", [
        f"output_dir={run.path}", f"export.dir={tmp_path / 'saved_models'}"]))
    run.save_task(model)
    export_for_serving(model, tmp_path / "saved_models", "sentiment")
    for i in range(2):
        (tmp_path / f"part-{i}.tsv").write_text(
            "sentence\n" + "".join(text + "\n" for text in texts(60, i))
            + ("not\ta row\n" if i else ""))
    inputs = str(tmp_path / "part-*.tsv")

    assert cli.main(["predict", str(run.path), "--input", inputs, "--output",
                     str(tmp_path / "local.jsonl"), "--on-error", "skip", "--quiet"]) == 0
    assert cli.main(["predict", str(run.path), "--input", inputs, "--output",
                     str(tmp_path / "beam" / "rows.jsonl.gz"), "--on-error", "skip",
                     "--runner", "DirectRunner", "--direct_num_workers=2",
                     "--direct_running_mode=multi_processing"]) == 0

    local = rows_of([tmp_path / "local.jsonl"])
    shards = sorted((tmp_path / "beam").glob("rows-*-of-*.jsonl.gz"))
    assert shards, list((tmp_path / "beam").iterdir())
    piped = rows_of(shards)
    assert sorted(piped) == sorted(local) and len(local) == 120
    assert len({row["label"] for row in local.values()}) == 3  # rows differ: a mix-up shows
    for key, row in local.items():
        assert piped[key]["label"] == row["label"] and piped[key]["text"] == row["text"]
        np.testing.assert_allclose(list(piped[key]["probabilities"].values()),
                                   list(row["probabilities"].values()), atol=1e-5)
    rejects = [json.loads(line) for path in sorted((tmp_path / "beam").glob("rows.rejects-*"))
               for line in path.read_text().splitlines()]
    assert [(r["source"], r["line"]) for r in rejects] == [(str(tmp_path / "part-1.tsv"), 62)]
    assert "expected 1 fields" in rejects[0]["reason"]


def test_beam_pipeline_tags_as_predict_does(tmp_path):
    """A CRF tagger: entities with character offsets, from a CoNLL file read whole by the
    tagger's own reader. In this process (the classifier's test runs the workers)."""
    from tfbert.tasks.token_classifier import TokenClassifier

    encoder, tokenizer = tiny(seed=1)
    model = spread(TokenClassifier(encoder, tokenizer, ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]),
                   scale=0.5)
    run = RunDirectory(tmp_path / "run")
    run.start(load_recipe(ROOT / "recipes" / "ner.toml", [
        f"output_dir={run.path}", f"export.dir={tmp_path / 'saved_models'}"]))
    run.save_task(model)
    export_for_serving(model, tmp_path / "saved_models", "ner")
    sentences = [text.split() for text in texts(40, 7)]
    (tmp_path / "in.conll").write_text("".join(
        "".join(f"{word} O\n" for word in words) + "\n" for words in sentences))

    assert cli.main(["predict", str(run.path), "--input", str(tmp_path / "in.conll"),
                     "--output", str(tmp_path / "local.jsonl"), "--quiet"]) == 0
    assert cli.main(["predict", str(run.path), "--input", str(tmp_path / "in.conll"),
                     "--output", str(tmp_path / "beam" / "rows.jsonl"), "--runner",
                     "DirectRunner", "--direct_running_mode=in_memory"]) == 0
    local = rows_of([tmp_path / "local.jsonl"])
    piped = rows_of(sorted((tmp_path / "beam").glob("rows-*-of-*.jsonl")))
    assert len(local) == 40 and sorted(piped) == sorted(local)
    assert sum(len(row["entities"]) for row in local.values()) >= 10  # the tagger finds some
    for key, row in local.items():
        assert piped[key]["entities"] == row["entities"]
        for entity in row["entities"]:
            assert row["text"][entity["start"]:entity["end"]] == entity["text"]

    # The export alone, with no run beside it: sentences in a text column, through
    # tfbert predict and through the pipeline, tagged as the run tags the CoNLL file.
    (tmp_path / "in.tsv").write_text("text\n" + "".join(" ".join(words) + "\n" for words in sentences))
    export = str(tmp_path / "saved_models" / "ner")
    assert cli.main(["predict", export, "--input", str(tmp_path / "in.tsv"),
                     "--output", str(tmp_path / "export.jsonl"), "--quiet"]) == 0
    assert cli.main(["predict", export, "--input", str(tmp_path / "in.tsv"), "--output",
                     str(tmp_path / "beam-export" / "rows.jsonl"), "--runner", "DirectRunner",
                     "--direct_running_mode=in_memory"]) == 0
    by_export = rows_of([tmp_path / "export.jsonl"])
    assert rows_of(sorted((tmp_path / "beam-export").glob("rows-*-of-*.jsonl"))) == by_export
    in_order = lambda rows: [(row["text"], row["entities"]) for _, row in sorted(rows.items())]  # noqa: E731
    assert in_order(by_export) == in_order(local)


def test_beam_options_only_with_a_runner(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", str(tmp_path), "--input", "x.tsv", "--output", "y.jsonl",
                  "--project=p"])
    assert "unrecognized arguments: --project=p" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path), "--input", "x.tsv", "--output", "y.jsonl",
                     "--runner", "DirectRunner", "--shards", "2"]) == 1
    assert "writes its own shards" in capsys.readouterr().err
