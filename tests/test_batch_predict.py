"""`tfbert predict` on inputs of any size: window by window, resumable, sharded, gzip.

A run directory holds a tiny random classifier (spread: texts get different answers);
the inputs are generated here. What is checked: the rows equal `Task.predict` of the
whole input, whatever the windows; a run killed with SIGKILL and started again writes
exactly what an uninterrupted run writes, byte for byte; bad rows stop the run naming
their file and line, or with --on-error skip land in the rejects file with the reason;
--top-k keeps the most likely labels; globs, several inputs, shards and gzip; an
output from another command is never appended to.
"""

import gzip
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from test_resume import Output
from tfbert import cli
from tfbert.recipe import load_recipe
from tfbert.run_directory import RunDirectory
from tfbert.tasks import TextClassifier
from tiny_models import WORDS, spread, tiny

BATCH = 2  # windows of 2 * 64 = 128 rows


def texts(count, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(count)]


def write_tsv(path, rows):
    path.write_text("sentence\n" + "".join(row + "\n" for row in rows))
    return path


def make_run(directory, labels):
    encoder, tokenizer = tiny()
    model = spread(TextClassifier(encoder, tokenizer, labels))
    run = RunDirectory(directory)
    run.start(load_recipe(ROOT / "recipes" / "sentiment.toml", [f"output_dir={directory}"]))
    run.save_task(model)
    return run.path, model


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"), ["negative", "positive", "neutral"])


def predict(run, inputs, output, *extra):
    arguments = ["predict", str(run), "--output", str(output), "--batch-size", str(BATCH), *extra]
    for path in inputs:
        arguments += ["--input", str(path)]
    return cli.main(arguments)


def read_rows(*paths):
    rows = []
    for path in paths:
        data = path.read_bytes()
        text = gzip.decompress(data).decode() if str(path).endswith(".gz") else data.decode()
        rows += [json.loads(line) for line in text.splitlines()]
    return rows


def test_rows_are_the_models_answers_window_by_window(classifier_run, tmp_path, capsys):
    run, model = classifier_run
    rows_in = texts(300, 0)
    source = write_tsv(tmp_path / "in.tsv", rows_in)
    assert predict(run, [source], tmp_path / "out.jsonl") == 0
    printed = capsys.readouterr().out
    assert "window 3: 300 rows written" in printed  # 128 + 128 + 44
    rows = read_rows(tmp_path / "out.jsonl")
    expected = model.predict(rows_in)
    assert [row["line"] for row in rows] == list(range(2, 302))
    assert [row["text"] for row in rows] == rows_in
    assert [row["label"] for row in rows] == expected["label"].tolist()
    assert len(set(expected["label"])) == 3  # the rows differ: a mix-up would show
    got = np.array([[row["probabilities"][name] for name in model.label_names] for row in rows])
    np.testing.assert_allclose(got, expected["probabilities"], atol=1e-5)
    assert all(row["source"] == str(source) for row in rows)
    progress = json.loads((tmp_path / "out.jsonl.progress.json").read_text())
    assert progress["finished"] and progress["rows"] == 300 and progress["windows"] == 3


def test_a_killed_run_goes_on_where_it_stopped(classifier_run, tmp_path):
    run, _ = classifier_run
    source = write_tsv(tmp_path / "in.tsv", texts(3000, 1))  # 24 windows
    assert predict(run, [source], tmp_path / "straight.jsonl.gz", "--quiet") == 0

    target = tmp_path / "killed.jsonl.gz"
    process = subprocess.Popen(
        [sys.executable, "-m", "tfbert.cli", "predict", str(run), "--input", str(source),
         "--output", str(target), "--batch-size", str(BATCH)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    output = Output(process)
    output.wait_for(lambda line: line.startswith("window 2:"), "its second window")
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    progress = json.loads((tmp_path / "killed.jsonl.gz.progress.json").read_text())
    assert not progress["finished"] and progress["windows"] >= 2
    # What a kill mid-window leaves: bytes past the recorded end (a partial gzip member).
    with open(target, "ab") as stream:
        stream.write(b"\x1f\x8b\x08half a window")

    assert predict(run, [source], target) == 0
    assert target.read_bytes() == (tmp_path / "straight.jsonl.gz").read_bytes()
    rows = read_rows(target)
    assert [row["line"] for row in rows] == list(range(2, 3002))  # none twice, none lost


def test_a_finished_or_foreign_output_is_not_appended_to(classifier_run, tmp_path, capsys):
    run, _ = classifier_run
    source = write_tsv(tmp_path / "in.tsv", texts(10, 2))
    target = tmp_path / "out.jsonl"
    assert predict(run, [source], target) == 0
    before = target.read_bytes()
    assert predict(run, [source], target) == 0
    assert "already complete (10 rows" in capsys.readouterr().out
    assert target.read_bytes() == before
    write_tsv(source, texts(12, 3))  # another input under the same name
    assert predict(run, [source], target) == 1
    assert "differs in: inputs" in capsys.readouterr().err
    assert predict(run, [source], target, "--top-k", "1") == 1  # another command
    assert "top_k" in capsys.readouterr().err
    assert predict(run, [source], target, "--force") == 0
    assert len(read_rows(target)) == 12
    other = tmp_path / "mine.jsonl"
    other.write_text("a file of the user's\n")
    assert predict(run, [source], other) == 1
    assert "no progress record" in capsys.readouterr().err
    assert other.read_text() == "a file of the user's\n"


def test_bad_rows_stop_the_run_or_are_set_aside(classifier_run, tmp_path, capsys):
    run, model = classifier_run
    table = tmp_path / "in.tsv"
    table.write_text("sentence\ngood film\nbad\tplot\n\nfine movie\n")
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"sentence": "the plot"}\n{"sentence": 3}\nnot json\n{"text": "x"}\n'
                     '{"sentence": "awful"}\n')
    assert predict(run, [table], tmp_path / "a.jsonl") == 1
    assert f"{table}, line 3: expected 1 fields" in capsys.readouterr().err
    assert not (tmp_path / "a.jsonl.progress.json").read_text().count('"finished": true')

    assert predict(run, [table, lines], tmp_path / "b.jsonl", "--on-error", "skip") == 0
    rows = read_rows(tmp_path / "b.jsonl")
    assert [(row["source"], row["line"], row["text"]) for row in rows] == [
        (str(table), 2, "good film"), (str(table), 5, "fine movie"),
        (str(lines), 1, "the plot"), (str(lines), 5, "awful")]
    assert [row["label"] for row in rows] == model.predict([r["text"] for r in rows])["label"].tolist()
    rejects = [json.loads(line) for line in (tmp_path / "b.rejects.jsonl").read_text().splitlines()]
    assert [(r["source"], r["line"]) for r in rejects] == [
        (str(table), 3), (str(table), 4), (str(lines), 2), (str(lines), 3), (str(lines), 4)]
    assert "blank line between rows" in rejects[1]["reason"]
    assert "must be a string" in rejects[2]["reason"] and "invalid JSON" in rejects[3]["reason"]
    assert "no key 'sentence'" in rejects[4]["reason"]
    assert "5 malformed rows set aside" in capsys.readouterr().out


def test_globs_shards_and_gzip(classifier_run, tmp_path):
    run, model = classifier_run
    parts = [write_tsv(tmp_path / f"part-{i}.tsv", texts(150, 10 + i)) for i in range(2)]
    assert predict(run, [tmp_path / "part-*.tsv"], tmp_path / "out.jsonl.gz", "--shards", "3") == 0
    shards = [tmp_path / f"out-0000{i}-of-00003.jsonl.gz" for i in range(3)]
    rows = read_rows(*shards)
    # Windows in turn: part-0's two windows, then part-1's, across three shards.
    assert sorted((row["source"], row["line"]) for row in rows) == sorted(
        (str(path), line) for path in parts for line in range(2, 152))
    assert all(len(read_rows(shard)) > 0 for shard in shards)
    expected = dict(zip(texts(150, 10) + texts(150, 11),
                        model.predict(texts(150, 10) + texts(150, 11))["label"]))
    assert all(row["label"] == expected[row["text"]] for row in rows)
    assert predict(run, [tmp_path / "nothing-*.tsv"], tmp_path / "x.jsonl") == 1


def test_top_k_keeps_the_most_likely_labels(tmp_path):
    labels = [f"intent_{i:02d}" for i in range(25)]
    run, model = make_run(tmp_path / "run", labels)
    source = write_tsv(tmp_path / "in.tsv", texts(20, 4))
    assert predict(run, [source], tmp_path / "default.jsonl") == 0
    assert predict(run, [source], tmp_path / "two.jsonl", "--top-k", "2") == 0
    probabilities = model.predict(texts(20, 4))["probabilities"]
    for k, name in ((5, "default.jsonl"), (2, "two.jsonl")):  # 25 labels: 5 by default
        for row, row_probabilities in zip(read_rows(tmp_path / name), probabilities):
            best = np.argsort(-row_probabilities)[:k]
            assert list(row["probabilities"]) == [labels[i] for i in best]
            assert row["label"] == labels[best[0]]


def test_bad_inputs_get_clear_errors(classifier_run, tmp_path, capsys):
    run, model = classifier_run
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert predict(run, [empty], tmp_path / "a.jsonl") == 1
    assert f"{empty} is empty" in capsys.readouterr().err

    broken = tmp_path / "broken.tsv"
    broken.write_bytes(b"sentence\ngood film\nbad \xff\xfe plot\nfine\n")
    assert predict(run, [broken], tmp_path / "b.jsonl") == 1
    assert f"{broken}, line 3: not valid utf-8 text" in capsys.readouterr().err
    assert '"finished": false' in (tmp_path / "b.jsonl.progress.json").read_text()
    assert predict(run, [broken], tmp_path / "c.jsonl", "--on-error", "skip") == 0
    assert [row["line"] for row in read_rows(tmp_path / "c.jsonl")] == [2, 4]
    assert "not valid utf-8" in (tmp_path / "c.rejects.jsonl").read_text()

    long_line = write_tsv(tmp_path / "long.tsv", ["good " * 250_000, "bad film"])  # 1.25 MB
    assert predict(run, [long_line], tmp_path / "d.jsonl") == 0
    rows = read_rows(tmp_path / "d.jsonl")
    assert [row["label"] for row in rows] == model.predict(["good " * 250_000, "bad film"])["label"].tolist()

    assert predict(run, ["gs://tfbert-no-such-bucket/x-*.tsv"], tmp_path / "e.jsonl") == 1
    assert "gs://tfbert-no-such-bucket/x-*.tsv: cannot be read" in capsys.readouterr().err

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert predict(run, [long_line], blocker / "out.jsonl") == 1
    assert str(blocker) in capsys.readouterr().err


def test_an_export_alone_is_predicted_as_its_run_is(classifier_run, tmp_path, capsys):
    """An export carries its task (assets.extra/tfbert_task.json): predicted from it,
    with no run beside it, the rows are the run's; a sentence-embedding export (which
    has no run) writes one vector per row."""
    from tfbert.export import export_for_serving
    from tfbert.tasks import SentenceEmbedder

    run, model = classifier_run
    rows_in = texts(150, 5)
    source = write_tsv(tmp_path / "in.tsv", rows_in)
    version = export_for_serving(model, tmp_path / "models", "clf", deployment_files=False)
    assert predict(run, [source], tmp_path / "run.jsonl", "--quiet") == 0
    # The model folder: its newest version; the export's column is "text" unless --set.
    assert predict(version.parent, [source], tmp_path / "export.jsonl", "--quiet",
                   "--set", "data.text_column=sentence") == 0
    by_run, by_export = read_rows(tmp_path / "run.jsonl"), read_rows(tmp_path / "export.jsonl")
    assert [r["label"] for r in by_export] == [r["label"] for r in by_run]
    assert len({r["label"] for r in by_run}) == 3
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in by_export],
                               [list(r["probabilities"].values()) for r in by_run], atol=1e-5)
    assert [(r["source"], r["line"], r["text"]) for r in by_export] == \
        [(r["source"], r["line"], r["text"]) for r in by_run]

    encoder, tokenizer = tiny()
    embedder = SentenceEmbedder(encoder, tokenizer, pooling="mean", normalize=False)
    vectors = export_for_serving(embedder, tmp_path / "models", "vectors", deployment_files=False)
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows_in[:40]))
    assert predict(vectors, [plain], tmp_path / "vectors.jsonl.gz", "--quiet") == 0
    rows = read_rows(tmp_path / "vectors.jsonl.gz")
    expected = embedder.predict(rows_in[:40])["embedding"]
    assert np.std(expected[:, 0]) > 1e-3  # texts get different vectors: a mix-up would show
    np.testing.assert_allclose([row["embedding"] for row in rows], expected, atol=1e-5)
    assert [row["line"] for row in rows] == list(range(1, 41))

    # Bad input: a folder that is neither a run nor an export; an export that does
    # not say what task it answers for.
    assert predict(tmp_path / "models", [plain], tmp_path / "f.jsonl") == 1
    assert "is neither a training run (no recipe.json" in capsys.readouterr().err
    (vectors / "assets.extra" / "tfbert_task.json").unlink()
    assert predict(vectors, [plain], tmp_path / "g.jsonl") == 1
    assert "tfbert_task.json is missing: the export does not say what task" in capsys.readouterr().err
