"""The package's folders are layers, and imports run only downward.

    io < layers < models < text < data < evaluation, inference < tasks
       < training, export, serving < the application (tfbert/*.py)

A module may import from its own layer or a lower one, never a higher one, lazily
(inside a function) or not. The application layer is the top level of the package
(cli, recipe, run_directory, train, predict, evaluate, search, features).
"""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tfbert"
LEVELS = {"io": 0, "layers": 1, "models": 2, "text": 3, "data": 4, "evaluation": 5,
          "inference": 5, "tasks": 6, "training": 7, "export": 7, "serving": 7}
APPLICATION = 8


def level_of_module(dotted):
    """The layer of `tfbert.x.y` (the application layer for top-level modules)."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return None  # `tfbert` itself: the public names, imported lazily
    return LEVELS.get(parts[1], APPLICATION)


def level_of_file(path):
    relative = path.relative_to(PACKAGE)
    if len(relative.parts) == 1:
        return APPLICATION
    return LEVELS[relative.parts[0]]


def tfbert_imports(path):
    """(line, imported module) of every tfbert import in the file, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfbert"):
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            # `from tfbert.text import tokenizer` imports the module tfbert.text.tokenizer.
            found += [(node.lineno, name if (PACKAGE.parent / (name.replace(".", "/") + ".py")).exists()
                       else node.module) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names
                      if alias.name.startswith("tfbert")]
    return found


def test_every_folder_is_a_known_layer():
    folders = {path.name for path in PACKAGE.iterdir()
               if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == set(LEVELS), f"a new folder needs a place in LEVELS: {folders ^ set(LEVELS)}"


def test_no_import_runs_upward():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        level = level_of_file(path)
        for line, module in tfbert_imports(path):
            target = level_of_module(module)
            if target is not None and target > level:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The check above can fail: a lazy import of the application layer from a task."""
    path = PACKAGE / "tasks" / "_upward_probe.py"
    path.write_text("def f():\n    from tfbert.recipe import load_recipe\n")
    try:
        assert [module for _, module in tfbert_imports(path)] == ["tfbert.recipe"]
        assert level_of_module("tfbert.recipe") > level_of_file(path)
    finally:
        path.unlink()


def imported_modules(code):
    """The modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return set(ran.stdout.split())


def test_recipes_and_served_rows_load_without_tensorflow():
    """Loading a recipe, the command line's parser and turning TF Serving's answers into
    rows (what `tfbert predict --server` does) import no TensorFlow or Keras; nor do the
    bag-of-words baselines (`tfbert baseline`), the serving errors every command catches,
    or the multi-worker launcher's refusal of --workers 1."""
    modules = imported_modules(
        "import tfbert.recipe, tfbert.cli, tfbert.run_directory, tfbert.predict, tfbert.serving\n"
        "from tfbert.tasks.registry import answers_class_of\n"
        "from tfbert.evaluation.baseline import run_baseline\n"
        "for kind in ('classification', 'regression', 'token_classification',\n"
        "             'intent_and_slots', 'pretraining', 'embedding'):\n"
        "    answers_class_of(kind)\n"
        "rows = answers_class_of('classification')({'label_names': ['no', 'yes'],\n"
        "    'multi_label': False}).prediction_rows({'label': ['yes'], 'probabilities': [[0.25, 0.75]]})\n"
        "assert rows == [{'label': 'yes', 'probabilities': {'no': 0.25, 'yes': 0.75}}], rows\n"
        "tfbert.recipe.load_recipe('recipes/sentiment.toml')\n"
        "for name in ('sentiment', 'pair_similarity'):\n"
        "    assert run_baseline(tfbert.recipe.load_recipe(f'recipes/{name}.toml'))['dev']\n"
        "assert tfbert.cli.main(['train', 'recipes/sentiment.toml', '--workers', '1']) == 1")
    heavy = sorted(m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "tensorflow_text"))
    assert not heavy, f"imported: {heavy[:5]}"


def test_one_place_sorts_rows_by_length():
    """Inference sorts by length in one place (tfbert/inference/engine.py); training's
    batch planner (tfbert/data/pipeline.py) sorts within shuffled windows. Counted: calls
    of argsort whose argument names a length."""
    places = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "argsort"
                    and node.args and "length" in ast.unparse(node.args[0])):
                places.append(str(path.relative_to(PACKAGE)))
    assert sorted(places) == ["data/pipeline.py", "inference/engine.py"], places
