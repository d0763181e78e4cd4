"""`tfbert export` killed with SIGKILL at random moments leaves no version a server would
load half of, and the next export succeeds and cleans up after the dead ones.

A tiny random classifier is saved as a training run (recipe.json, task.json,
model.keras: what `tfbert train` leaves; no training needed). One `tfbert export RUN`
is timed first: the export's duration runs from the moment it first writes into
saved_models/<name>/ (its staging directory appears) until the process exits. Before
that moment the command has written nothing, so a kill there cannot leave anything.
Then TFBERT_CRASH_KILLS (default 2) more `tfbert export` processes, each a fresh
interpreter as a user starts it, are killed with SIGKILL at moments of that window:
one drawn at random in each of as many equal slices of it (seeded: TFBERT_CRASH_SEED),
so the kills spread over the whole export, its last milliseconds included. After each
kill every all-digit directory (what TF Serving loads) is a whole SavedModel and the
server files are whole; at the end one more export succeeds, leaves no staging
directory behind, and every version loads and runs with the v1 loader TF Serving uses.

Where each kill landed is seen, not assumed: the export is frozen (SIGSTOP) at its
moment, its staging directory listed, then it is killed. Most of the window is tracing
(the staging directory still empty); the files are written in its last ~0.2 s, which
a kill at a random moment seldom hits. So two more exports are killed mid-write on
purpose: frozen the moment the kernel reports (inotify) the first entry of the staging
directory, and its saved_model.pb; the test asserts that each was caught with the
staging directory holding part of a SavedModel (some files, not all of a version's),
and that what it left is never served and is cleaned up by the next export.

    TFBERT_CRASH_KILLS=10 pytest -s tests/test_export_crash.py   # prints each kill
"""

import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from test_resume import CreatedNames
from tfbert.cli import main
from tfbert.export import deployment, export_for_serving
from tfbert.recipe import load_recipe
from tfbert.run_directory import RunDirectory
from tfbert.tasks import TextClassifier
from tiny_models import spread, tiny

KILLS = int(os.environ.get("TFBERT_CRASH_KILLS", "2"))
SEED = int(os.environ.get("TFBERT_CRASH_SEED", "14"))
STAGING = re.compile(r"^\.\d+\.tmp-")  # export_for_serving's staging directories
SERVER_FILES = {"models.config": None, "batching_parameters.txt": deployment.BATCHING_PARAMETERS,
                "docker-compose.yml": deployment.docker_compose(), "serve.sh": deployment.serve_script()}


def tiny_classifier():
    encoder, tokenizer = tiny()
    return spread(TextClassifier(encoder, tokenizer, ["negative", "positive"]))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory as `tfbert train` leaves it, holding a tiny random classifier."""
    out = tmp_path_factory.mktemp("crash")
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml",
                         [f"output_dir={out / 'run'}", f"export.dir={out / 'saved_models'}"])
    run = RunDirectory(recipe.output_dir)
    run.start(recipe)
    run.save_task(tiny_classifier())
    return run.path


def staging_names(model_dir):
    return {name for name in os.listdir(model_dir) if STAGING.match(name)} if model_dir.exists() else set()


def start_export(run_dir, log):
    return subprocess.Popen([sys.executable, "-m", "tfbert.cli", "export", str(run_dir)],
                            stdout=log, stderr=log, cwd=run_dir.parent)


def wait_for_staging(process, model_dir, seen):
    """Polls until the export makes a staging directory it had not seen; returns (the
    time, its name)."""
    deadline = time.monotonic() + 300
    while not staging_names(model_dir) - seen:
        assert process.poll() is None, f"the export ended (rc {process.returncode}) before writing"
        assert time.monotonic() < deadline, "the export never started writing"
        time.sleep(0.001)
    return time.monotonic(), min(staging_names(model_dir) - seen)


def files_under(directory):
    """The relative paths of everything under `directory`, folders ending in "/" (None
    if it does not exist)."""
    try:
        return sorted(str(p.relative_to(directory)) + ("/" if p.is_dir() else "")
                      for p in directory.rglob("*"))
    except FileNotFoundError:
        return None


def freeze_look_kill(process, staging, whole):
    """Freezes the export, looks at its staging directory, kills it. Returns where the
    kill landed: "exited", "tracing" (staging empty), "mid-write" (part of a SavedModel:
    some entries, not all of `whole`), "written" (all of them, not yet renamed) or
    "renamed"; and what the staging directory held."""
    if process.poll() is not None:
        return "exited", None
    process.send_signal(signal.SIGSTOP)
    files = files_under(staging)
    process.kill()
    process.wait(timeout=60)
    if files is None:
        return "renamed", None
    if not files:
        return "tracing", files
    return ("written" if set(whole) <= set(files) else "mid-write"), files


def check_whole(base_dir, model_dir):
    """Every version a server would load is whole, and so is every server file."""
    for version in model_dir.iterdir():
        if version.name.isdigit():
            assert (version / "saved_model.pb").stat().st_size > 0, version
            assert (version / "variables" / "variables.index").is_file(), version
            assert list((version / "variables").glob("variables.data-*")), version
            assert (version / "assets" / "vocab.txt").is_file(), version
    expected = {**SERVER_FILES, "models.config": deployment.models_config(["sentiment"])}
    for name, text in expected.items():
        if (base_dir / name).exists():
            assert (base_dir / name).read_text() == text, f"{name} is not whole"


def leftovers(base_dir, model_dir):
    return sorted([n for n in os.listdir(model_dir) if not n.isdigit()]
                  + [n for n in os.listdir(base_dir) if n.startswith(".")])


def loads_and_runs(version_dir):
    """Loads a version as TF Serving does (v1 loader, SignatureDef names) and runs it."""
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(version_dir))
        signature = meta_graph.signature_def["serving_default"]
        out = session.run(signature.outputs["probabilities"].name,
                          {signature.inputs["text"].name: np.array([b"good movie", b""], dtype=object)})
    return out.shape == (2, 2) and bool(np.isfinite(out).all())


def test_killed_exports_leave_no_partial_version(run_dir, tmp_path):
    base_dir = run_dir.parent / "saved_models"
    model_dir = base_dir / "sentiment"
    log = open(tmp_path / "exports.log", "wb")

    # The export's duration, measured: from its staging directory's appearance to its exit.
    process = start_export(run_dir, log)
    began, _ = wait_for_staging(process, model_dir, set())
    assert process.wait(timeout=300) == 0, (tmp_path / "exports.log").read_text()[-3000:]
    duration = time.monotonic() - began
    assert (model_dir / "1" / "saved_model.pb").exists()
    whole = files_under(model_dir / "1")  # what a version holds once written

    rng = random.Random(SEED)
    moments = [(i + rng.random()) * duration / KILLS for i in range(KILLS)]
    rng.shuffle(moments)  # not in order: each export starts after dead ones of any age
    print(f"\nexport writes for {duration:.2f} s; kill moments (s after its staging "
          f"directory appears): {', '.join(f'{m:.2f}' for m in moments)}")
    seen = staging_names(model_dir)
    landed = []
    for moment in moments:
        process = start_export(run_dir, log)
        began, staging = wait_for_staging(process, model_dir, seen)
        seen |= staging_names(model_dir)
        time.sleep(max(0.0, began + moment - time.monotonic()))
        where, files = freeze_look_kill(process, model_dir / staging, whole)
        landed.append(where)
        check_whole(base_dir, model_dir)
        print(f"  kill at {moment:.2f} s: {where}{f' ({len(files)} entries)' if files else ''}; "
              f"versions {sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())}; "
              f"left: {leftovers(base_dir, model_dir)}")
    assert landed.count("exited") < len(landed), landed  # the random kills hit running exports

    # Killed mid-write on purpose: frozen when the kernel reports the staging directory's
    # first entry, then its saved_model.pb (renamed into place by TensorFlow).
    for trigger in ("first entry", "saved_model.pb"):
        for attempt in range(3):  # the write may finish before the freeze lands: again
            process = start_export(run_dir, log)
            _, staging = wait_for_staging(process, model_dir, seen)
            seen |= staging_names(model_dir)
            created = CreatedNames(model_dir / staging)
            try:
                while process.poll() is None:
                    names = created.next(1.0)
                    if names and (trigger == "first entry" or "saved_model.pb" in names):
                        break
                where, files = freeze_look_kill(process, model_dir / staging, whole)
            finally:
                created.close()
            check_whole(base_dir, model_dir)
            print(f"  kill at {trigger} (try {attempt + 1}): {where}; staging held {files}; "
                  f"left: {leftovers(base_dir, model_dir)}")
            if where == "mid-write":
                break
        # Caught with part of a SavedModel on disk (some entries, not all of a version's).
        assert where == "mid-write", f"never killed mid-write at {trigger}: {where}, {files}"
        assert files and not set(whole) <= set(files)
        assert staging in leftovers(base_dir, model_dir)  # what the kill left; never served

    # The next export, which cleans up after the dead ones, runs in this process: only
    # the killed ones needed a process of their own.
    assert main(["export", str(run_dir)]) == 0  # its error, if any, is on stderr
    versions = sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())
    print(f"  next export: versions {versions}; left: {leftovers(base_dir, model_dir)}")
    check_whole(base_dir, model_dir)
    assert leftovers(base_dir, model_dir) == []
    assert all(loads_and_runs(model_dir / str(v)) for v in versions)


def test_export_removes_only_its_own_stale_staging(tmp_path, monkeypatch):
    """What a dead export leaves (its staging directory, a server file's temporary) is
    removed by the next export of that model; nothing else is. Replacing a version
    never deletes files inside a directory a server may be loading, and every server
    file is put in place by one rename of a whole file."""
    import tfbert.export as export_module

    base_dir, model_dir = tmp_path / "saved_models", tmp_path / "saved_models" / "m"
    task = tiny_classifier()
    export_for_serving(task, base_dir, "m")
    stale = [model_dir / ".2.tmp-abc123", model_dir / ".1.tmp-x1y2-old", base_dir / ".models.tmp-q1.config"]
    kept = [model_dir / ".tmp-abc", model_dir / ".2.tmpabc", model_dir / "notes.tmp-1",
            model_dir / ".v2.tmp-a", base_dir / "other" / ".3.tmp-abc", base_dir / ".models.config.bak",
            base_dir / "other" / "1" / "saved_model.pb"]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".pb" or path.parent == base_dir:
            path.write_text("x")
        else:
            path.mkdir()
            (path / "saved_model.pb").write_text("half")

    removed, placed = [], {}
    real_rmtree, real_replace = export_module.shutil.rmtree, os.replace

    def rmtree(path, *args, **kwargs):
        removed.append(os.path.basename(path))
        return real_rmtree(path, *args, **kwargs)

    def replace(source, target):
        if os.path.dirname(os.fspath(target)) == os.fspath(base_dir):
            assert os.path.dirname(os.fspath(source)) == os.fspath(base_dir)  # same file system
            placed[os.path.basename(target)] = open(source).read()
        return real_replace(source, target)

    monkeypatch.setattr(export_module.shutil, "rmtree", rmtree)
    monkeypatch.setattr(os, "replace", replace)
    export_for_serving(task, base_dir, "m", version=1, overwrite=True)

    assert not any(name.isdigit() for name in removed), f"deleted a live version in place: {removed}"
    assert [path for path in stale if path.exists()] == []
    assert [path for path in kept if not path.exists()] == []
    assert sorted(os.listdir(model_dir)) == sorted(["1", ".tmp-abc", ".2.tmpabc", "notes.tmp-1", ".v2.tmp-a"])
    assert loads_and_runs(model_dir / "1")
    assert placed == {**SERVER_FILES, "models.config": deployment.models_config(["m", "other"])}
