"""Running a recipe: read data, fine-tune, keep the best, evaluate, export.

    runs/<name>/
      recipe.json            the recipe as run (after --set overrides)
      resume/                model + optimizer every `checkpoint_every` steps
      best.weights.h5        weights at the best dev metric
      model.keras            the best model, for `tfbert evaluate` / `tfbert predict`
      logs/                  TensorBoard
      eval_dev/, eval_test/  metrics.json, predictions.jsonl, confusion matrix
    saved_models/<name>/<version>/   the SavedModel for serving
"""

import json
import pathlib
import time

import keras
import numpy as np

from tfbert.data.labels import LabelVocabulary
from tfbert.data.pipeline import make_dataset, plan_batches
from tfbert.encoder import BertEncoder
from tfbert.export import export_for_serving
from tfbert.recipe import recipe_to_dict
from tfbert.tasks import TextClassifier, TextRegressor
from tfbert.tokenizer import BertTokenizer
from tfbert.training.callbacks import DevEvaluation, ResumeCheckpoint, resume_manager
from tfbert.training.evaluate import evaluate_examples
from tfbert.training.examples import encode_targets, first_examples, model_inputs, read_split
from tfbert.training.optimizer import make_optimizer

DTYPE_POLICIES = {"none": None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def build_task(recipe, train_examples):
    policy = DTYPE_POLICIES[recipe.training.mixed_precision]
    encoder = BertEncoder.from_pretrained(recipe.checkpoint, dtype=policy)
    tokenizer = BertTokenizer.from_pretrained(recipe.checkpoint, max_length=recipe.training.max_length)
    common = dict(head=recipe.head, pair=recipe.is_pair, dropout=recipe.training.dropout,
                  dtype=policy, name=recipe.name.replace("-", "_"))
    if recipe.task == "regression":
        return TextRegressor(encoder, tokenizer, **common)
    vocabulary = LabelVocabulary.from_labels(
        train_examples.labels, multi_label=recipe.data.multi_label,
        separator=recipe.data.label_separator,
    )
    return TextClassifier(encoder, tokenizer, vocabulary.names, multi_label=recipe.data.multi_label,
                          label_separator=recipe.data.label_separator, **common)


# Keys that may change between an interrupted run and its resumption: they do not
# change what training computes.
RESUME_MAY_CHANGE = {"export", "data.test", "training.checkpoint_every"}


def _flatten(values, prefix=""):
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_resumable(recipe, output_dir):
    """A run directory with a resume checkpoint continues only the same recipe;
    anything else would silently mix two trainings."""
    saved = output_dir / "recipe.json"
    if not saved.exists() or not any((output_dir / "resume").glob("ckpt-*")):
        return
    before = _flatten(json.loads(saved.read_text()))
    now = _flatten(recipe_to_dict(recipe))
    changed = [key for key in sorted(set(before) | set(now))
               if before.get(key) != now.get(key)
               and key not in RESUME_MAY_CHANGE and key.split(".")[0] not in RESUME_MAY_CHANGE]
    if changed:
        details = "; ".join(f"{key}: {before.get(key)!r} -> {now.get(key)!r}" for key in changed)
        raise ValueError(
            f"{output_dir} holds an interrupted run of a different recipe ({details}). "
            f"Resume with the same recipe, or choose another output_dir (or delete "
            f"{output_dir / 'resume'}) to start afresh."
        )


def train(recipe):
    """Runs a recipe end to end; returns a dict of what it produced."""
    t = recipe.training
    keras.utils.set_random_seed(t.seed)
    output_dir = pathlib.Path(recipe.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    check_resumable(recipe, output_dir)
    (output_dir / "recipe.json").write_text(json.dumps(recipe_to_dict(recipe), indent=2))

    train_examples = read_split(recipe, recipe.data.train)
    if recipe.data.max_train_examples:
        train_examples = first_examples(train_examples, recipe.data.max_train_examples)
    dev_examples = read_split(recipe, recipe.data.dev) if recipe.data.dev else None
    print(f"train: {len(train_examples)} examples from {train_examples.source}")

    task = build_task(recipe, train_examples)
    targets, _, _ = encode_targets(recipe, task, train_examples)
    if recipe.task == "classification" and task.multi_label:
        task.set_output_bias_to_label_priors(targets)

    first, second, lengths = task.tokenize_inputs(model_inputs(recipe, train_examples))
    steps_per_epoch = len(plan_batches(lengths, t.batch_size, shuffle=True, seed=t.seed))
    total_steps = steps_per_epoch * t.epochs
    task.compile(
        optimizer=make_optimizer(t.learning_rate, total_steps, t.warmup_ratio,
                                 t.weight_decay, t.clip_norm),
        jit_compile=t.xla,
    )
    task.optimizer.build(task.trainable_variables)

    manager, checkpoint = resume_manager(task, output_dir / "resume")
    state_path = output_dir / "dev_state.json"
    best = None
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        if state_path.exists():
            best = json.loads(state_path.read_text())["best"]
    done = int(task.optimizer.iterations.numpy())
    if done >= total_steps:
        print(f"already trained {done}/{total_steps} steps; evaluating and exporting")
    elif done:
        print(f"resuming from step {done}/{total_steps} ({manager.latest_checkpoint})")

    dev_callback = None
    if dev_examples is not None:
        dev_callback = DevEvaluation(
            lambda: evaluate_examples(recipe, task, dev_examples, on_unknown=recipe.data.on_unknown_label)[0],
            t.eval_metric, output_dir / "best.weights.h5", state_path, best=best,
        )
    callbacks = [c for c in (dev_callback,) if c] + [
        ResumeCheckpoint(manager, t.checkpoint_every),
        keras.callbacks.TensorBoard(str(output_dir / "logs"), update_freq=50),
    ]

    started = time.perf_counter()
    examples_seen = 0

    def fit(batches, first_epoch, last_epoch, steps):
        dataset = make_dataset(task.tokenizer, first, second, targets, batches)
        keras.Model.fit(task, dataset, epochs=last_epoch, initial_epoch=first_epoch,
                        steps_per_epoch=steps, shuffle=False, callbacks=callbacks)
        return sum(len(b) for b in batches)

    # Epoch e's batches are a pure function of (seed, e): a resumed run rebuilds the
    # plan and skips the batches already done. A partly done epoch is finished in a
    # fit() of its own; the remaining epochs run in one fit() (Keras keeps reading the
    # same iterator across epochs when steps_per_epoch is given).
    epoch, skip = divmod(done, steps_per_epoch)
    plan = lambda e: plan_batches(lengths, t.batch_size, shuffle=True, seed=t.seed, epoch=e)
    if skip and epoch < t.epochs:
        examples_seen += fit(plan(epoch)[skip:], epoch, epoch + 1, steps_per_epoch - skip)
        epoch += 1
    if epoch < t.epochs:
        rest = [batch for e in range(epoch, t.epochs) for batch in plan(e)]
        examples_seen += fit(rest, epoch, t.epochs, steps_per_epoch)
    seconds = time.perf_counter() - started

    if dev_examples is not None and (output_dir / "best.weights.h5").exists():
        task.load_weights(str(output_dir / "best.weights.h5"))
    task.save(str(output_dir / "model.keras"))

    result = {"train_examples_per_second": examples_seen / seconds if examples_seen else None,
              "train_seconds": seconds, "steps": total_steps, "output_dir": str(output_dir)}
    for split, path in (("dev", recipe.data.dev), ("test", recipe.data.test)):
        if path:
            examples = dev_examples if split == "dev" else read_split(recipe, path)
            metrics, report = evaluate_examples(recipe, task, examples, output_dir / f"eval_{split}",
                                                on_unknown=recipe.data.on_unknown_label)
            result[split] = metrics
            print(report)
    if recipe.export.enabled:
        result["export"] = str(export_for_serving(task, recipe.export.dir, recipe.export.name,
                                                    compute_dtype=recipe.export.compute_dtype))
        print(f"exported {result['export']}")
    return result
