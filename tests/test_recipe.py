"""Recipes: defaults, path resolution, overrides, and every kind of bad key or value."""

import pathlib

import pytest

from conftest import ROOT
from tfbert.recipe import RecipeError, epochs_to_run, load_recipe, recipe_from_dict, recipe_to_dict

MINIMAL = 'name = "demo"\n[data]\ntrain = "train.tsv"\n'


def write(tmp_path, text):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_shipped_recipes_load():
    for name in ("sentiment", "intent", "pair_similarity", "paraphrase"):
        recipe = load_recipe(ROOT / "recipes" / f"{name}.toml")
        assert recipe.name == name
        assert pathlib.Path(recipe.data.train).is_absolute()
        assert recipe.checkpoint == "all-minilm-l6-v2"
    assert load_recipe(ROOT / "recipes" / "pair_similarity.toml").is_pair
    assert load_recipe(ROOT / "recipes" / "intent.toml").options.multi_label
    similarity = load_recipe(ROOT / "recipes" / "pair_similarity.toml")
    # No clipping unless asked: a copy of the recipe for another score scale stays right.
    assert (similarity.options.min_score, similarity.options.max_score) == (-float("inf"), float("inf"))
    assert similarity.training.eval_metric == "spearman"  # the regression task's own


def test_paths_relative_to_recipe_and_overrides_to_cwd(tmp_path, monkeypatch):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.data.train == str(tmp_path / "train.tsv")
    assert recipe.training.eval_metric == "accuracy" and recipe.export.name == "demo"
    monkeypatch.chdir(tmp_path.parent)
    recipe = load_recipe(write(tmp_path, MINIMAL), ["data.dev=other/dev.tsv", "training.epochs=1",
                                                  "training.learning_rate=2e-5",
                                                  "classification.head=attention"])
    assert recipe.data.dev == str(tmp_path.parent / "other" / "dev.tsv")
    assert recipe.training.epochs == 1 and recipe.training.learning_rate == 2e-5
    assert recipe.options.head == "attention"


def test_each_task_kind_has_its_own_table(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL + "[classification]\nmulti_label = true\nthreshold = 0.3\n"))
    assert recipe.options.multi_label and recipe.options.threshold == 0.3
    assert recipe.options.head == "auto"  # the default: the checkpoint's own pooling
    # --set task=... picks the other kind's table, defaults and evaluation metric.
    switched = load_recipe(write(tmp_path, MINIMAL), ["task=regression", "regression.max_score=5"])
    assert type(switched.options).__name__ == "RegressionSection"
    assert switched.options.max_score == 5.0 and switched.options.min_score == -float("inf")
    assert switched.training.eval_metric == "spearman"


@pytest.mark.parametrize("extra", ["", 'task = "regression"\n'])
def test_round_trip_through_dict(tmp_path, extra):
    import json

    recipe = load_recipe(write(tmp_path, extra + MINIMAL))
    # Through JSON, as a run directory keeps it (infinite score bounds included).
    again = recipe_from_dict(json.loads(json.dumps(recipe_to_dict(recipe), allow_nan=False)))
    assert recipe_to_dict(again) == recipe_to_dict(recipe)
    assert again.options == recipe.options


@pytest.mark.parametrize(
    "text, message",
    [
        (MINIMAL + "[training]\nlearning_rte = 1e-5\n",
         "unknown key 'training.learning_rte'; valid keys in [training]: epochs, min_steps, batch_size, learning_rate"),
        (MINIMAL + "epochs = 3\n", "unknown key 'data.epochs'"),  # lands in [data]
        ('name = "x"\nlayers = 3\n[data]\ntrain = "t"\n', "unknown key 'layers'; valid keys: name, task"),
        (MINIMAL + "[training]\nepochs = \"three\"\n", "training.epochs must be an integer, got 'three'"),
        (MINIMAL + "[training]\nepochs = 1.5\n", "training.epochs must be an integer, got 1.5"),
        (MINIMAL + "[training]\nxla = 1\n", "training.xla must be true or false, got 1"),
        (MINIMAL + "[training]\nepochs = 0\n", "training.epochs must be positive"),
        (MINIMAL + "[training]\nmin_steps = -1\n", "training.min_steps must be 0 or more, got -1"),
        (MINIMAL + "[training]\nlearning_rate = 5\n", "training.learning_rate must be in (0, 1)"),
        (MINIMAL + "[training]\nhead_learning_rate = -1e-3\n", "training.head_learning_rate must be in [0, 1)"),
        (MINIMAL + "[training]\nhead_learning_rate = \"fast\"\n", "training.head_learning_rate"),
        (MINIMAL + "[training]\nmixed_precision = \"fp8\"\n", "training.mixed_precision = 'fp8' is not one of"),
        ('name = "x"\ntask = "ranking"\n[data]\ntrain = "t"\n',
         "task = 'ranking' is not one of: 'classification', "),  # ..., every registered kind
        (MINIMAL + "[classification]\nhead = \"max\"\n",
         "[classification] head = 'max' is not one of: cls, attention, mean, auto"),
        (MINIMAL + "[classification]\nthreshold = 1.5\n", "[classification] threshold must be in (0, 1)"),
        (MINIMAL + "[classification]\nmulti_labels = true\n",
         "unknown key 'classification.multi_labels'; valid keys in [classification]: head, "
         "multi_label, label_separator, threshold"),
        (MINIMAL + "[classification]\nthreshold = \"high\"\n",
         "classification.threshold must be a number, got 'high'"),
        (MINIMAL + "[regression]\nmax_score = 5\n",
         "unknown key 'regression' ([regression] is the table of task 'regression'; this "
         "recipe's task is 'classification')"),
        ('name = "x"\ntask = "regression"\n[data]\ntrain = "t"\n[regression]\nmin_score = 5\nmax_score = 1\n',
         "[regression] min_score (5.0) must be below max_score (1.0)"),
        ('name = "x"\nhead = "cls"\n[data]\ntrain = "t"\n',
         "unknown key 'head' (it moved to classification.head)"),
        (MINIMAL + "multi_label = true\n",
         "unknown key 'data.multi_label' (it moved to classification.multi_label)"),
        ('name = "x"\nclassification = 3\n[data]\ntrain = "t"\n', "classification must be a table"),
        ('name = "x"\ndata = 3\n', "data must be a table"),
        ('[data]\ntrain = "t"\n', "name is required"),
        ('name = "../x"\n[data]\ntrain = "t"\n', "name = '../x' must be letters, digits"),
        (MINIMAL + "[export]\nname = \"a/b\"\n", "export.name = 'a/b' must be letters, digits, '.', "
         "'_' or '-', start with a letter or digit, and contain no path separators or '..'"),
        (MINIMAL + "[export]\nname = \"x..y\"\n", "export.name = 'x..y' must be"),
        ('name = "x"\n', "data.train is required"),
        ('name = "x\n', "not valid TOML"),
    ],
)
def test_bad_recipes_are_named(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_bad_overrides(tmp_path):
    path = write(tmp_path, MINIMAL)
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        load_recipe(path, ["training.epochs"])
    with pytest.raises(RecipeError, match="unknown key 'training.epoch'"):
        load_recipe(path, ["training.epoch=2"])
    with pytest.raises(RecipeError, match="training.batch_size must be an integer, got 'big'"):
        load_recipe(path, ["training.batch_size=big"])


def test_missing_recipe_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Recipe not found"):
        load_recipe(tmp_path / "none.toml")


def test_min_steps_raises_the_epochs_of_a_small_training_set(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL), ["training.epochs=3", "training.min_steps=1500"])
    # ATIS at batch 32: 140 steps per epoch -> 11 epochs (1540 steps); CoNLL: 439 -> 4.
    assert epochs_to_run(recipe.training, 140) == 11
    assert epochs_to_run(recipe.training, 439) == 4
    assert epochs_to_run(recipe.training, 500) == 3  # exactly 1500: no extra epoch
    assert epochs_to_run(recipe.training, 2000) == 3  # never fewer than `epochs`
    recipe = load_recipe(write(tmp_path, MINIMAL), ["training.epochs=2"])
    assert epochs_to_run(recipe.training, 1) == 2  # min_steps = 0: exactly `epochs`


def test_recipe_values_are_never_executed(tmp_path, monkeypatch):
    """A recipe is data: strings that look like code are paths, names or choices, and
    are refused as such; nothing is imported or run, nothing is written."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    for override, refusal in [
        (f"task={code}", "is not one of"),
        (f"classification.head={code}", "is not one of"),
        (f"training.mixed_precision={code}", "is not one of"),
        (f"export.name={code}", "must be letters, digits"),
        (f"name={code}", "must be letters, digits"),
    ]:
        with pytest.raises(RecipeError, match=refusal):
            load_recipe(write(tmp_path, MINIMAL), [override])
    # A checkpoint or data path that is code is a path that does not exist.
    from tfbert.models.pretrained import resolve_checkpoint_dir

    with pytest.raises(FileNotFoundError, match="No checkpoint directory"):
        resolve_checkpoint_dir(code)
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.toml"]
