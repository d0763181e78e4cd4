"""Which export a path names, and what task it answers for, without TensorFlow.

Every export carries `assets.extra/tfbert_task.json` (the task kind and its plain
config, as a run's task.json), so a SavedModel alone, with no run directory beside it
(on a bucket, or made by `tfbert embed --export`), is enough to turn its outputs into
the rows `tfbert predict` writes. TF Serving loads nothing from assets.extra but its
warm-up requests.
"""

import json
import pathlib

TASK_FILE = "tfbert_task.json"


def write_task_description(version_dir, kind, config):
    folder = pathlib.Path(version_dir) / "assets.extra"
    folder.mkdir(exist_ok=True)
    (folder / TASK_FILE).write_text(json.dumps({"task": kind, "config": config}, indent=2),
                                    encoding="utf-8")


def export_version(path):
    """The version folder `path` names (a version: it holds saved_model.pb; a model
    folder: its highest numbered version), or None when `path` is not an export."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if not path.is_dir():
        return None
    versions = sorted((int(p.name) for p in path.iterdir()
                       if p.name.isdigit() and (p / "saved_model.pb").is_file()), reverse=True)
    return path / str(versions[0]) if versions else None


def task_description(version_dir):
    """(task kind, plain config) of an export."""
    path = pathlib.Path(version_dir) / "assets.extra" / TASK_FILE
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
        return description["task"], description["config"]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} is missing: the export does not say what task it answers for (an "
            "export written before tfbert wrote this file, or not by tfbert). Export it "
            "again with `tfbert export RUN`, or predict from its run directory.") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a tfbert task description ({error}).") from None
