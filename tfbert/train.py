"""Running a recipe: read data, fine-tune, keep the best, evaluate, export.

What the run writes is `tfbert.run_directory`'s business; what the task is, and how
its targets, loss, metrics and outputs work, is the task's (`tfbert.tasks`). This
module only puts them in order:

    read the splits -> prepare_training (build, tokenize, compile: in the scope of
    training.distribute's strategy) -> resume -> task.fit -> best weights -> evaluate
    -> export

Under `multi_worker` every process runs all of this in step (predicting the dev set
and saving checkpoints take every worker). Only the chief writes the run directory
and the export; the others write the same files to a temporary directory that they
remove at the end, and resume from the chief's checkpoints (so the run directory must
be on storage every worker reads: one machine, a shared file system, or GCS).
"""

import dataclasses
import hashlib
import os
import time

import keras
import tensorflow as tf

from tfbert.io.atomic_files import check_writable_directory
from tfbert.evaluation.baseline import comparison, run_baseline
from tfbert.models.checkpoint_pooling import checkpoint_pooling
from tfbert.models.encoder import BertEncoder
from tfbert.evaluation.evaluate import evaluate_task
from tfbert.export import export_for_serving
from tfbert.models.pretrained import resolve_checkpoint_dir
from tfbert.recipe import epochs_to_run
from tfbert.run_directory import RunDirectory, explain_steps
from tfbert.text.tokenizer import BertTokenizer
from tfbert.training.callbacks import DevEvaluation, ResumeCheckpoint, resume_manager
from tfbert.training.distribute import describe as describe_strategy
from tfbert.training.distribute import make_strategy
from tfbert.training.optimizer import make_optimizer

DTYPE_POLICIES = {"none": None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def read_split(recipe, path):
    return recipe.read_examples(path)


def build_task(recipe, train_examples):
    """The recipe's task on its pretrained checkpoint (heads start fresh unless the
    checkpoint carries weights for them: `Task.load_pretrained_heads`)."""
    policy = DTYPE_POLICIES[recipe.training.mixed_precision]
    section = recipe.options
    if getattr(section, "head", None) == "auto":
        head, reason = checkpoint_pooling(resolve_checkpoint_dir(recipe.checkpoint))
        print(f'head = "auto": {head} ({reason})')
        section = dataclasses.replace(section, head=head)
    encoder = BertEncoder.from_pretrained(recipe.checkpoint, dtype=policy)
    max_length = recipe.training.max_length
    positions = encoder.bert_config.max_position_embeddings
    if max_length > positions:
        # The default (256) is more than a short-position checkpoint holds: cut there.
        print(f"training.max_length = {max_length} is more than the checkpoint's {positions} "
              f"positions: texts are cut at {positions} tokens")
        max_length = positions
    task = recipe.task_class.from_recipe(
        section, train_examples, encoder=encoder,
        tokenizer=BertTokenizer.from_pretrained(recipe.checkpoint, max_length=max_length),
        pair=recipe.is_pair, dropout=recipe.training.dropout, dtype=policy,
        name=recipe.name.replace("-", "_"),
    )
    heads = task.load_pretrained_heads(resolve_checkpoint_dir(recipe.checkpoint))
    if heads:
        print(f"{' and '.join(heads)} head weights loaded from {recipe.checkpoint}")
    return task


def prepare_training(recipe, train_examples, strategy=None):
    """Builds the task, tokenizes the training data, compiles with BERT's optimizer
    and creates the optimizer's variables, all inside `strategy.scope()` (the default
    strategy when None), so that every variable is made where the strategy wants it.

    Returns (task, training data as `TokenizedExamples`).
    """
    t = recipe.training
    with (strategy or tf.distribute.get_strategy()).scope():
        task = build_task(recipe, train_examples)
        data = task.tokenize(train_examples)
        task.initialize_from_targets(data.targets)
        steps_per_epoch = data.steps_per_epoch(t.batch_size)
        total_steps = steps_per_epoch * epochs_to_run(t, steps_per_epoch)
        head_rate = t.head_learning_rate
        if head_rate == "auto":
            head_rate = task.default_head_learning_rate
            if head_rate:
                print(f'head_learning_rate = "auto": {head_rate:g} for the head, '
                      f"{t.learning_rate:g} for the encoder")
        task.compile(optimizer=make_optimizer(t.learning_rate, total_steps, t.warmup_ratio,
                                              t.weight_decay, t.clip_norm,
                                              head_learning_rate=head_rate),
                     jit_compile=t.xla)
        task.optimizer.build(task.trainable_variables)
    return task, data


def weights_digest(task):
    """sha256 of every weight's bytes, in order: equal on every worker of a run."""
    digest = hashlib.sha256()
    for variable in task.weights:
        digest.update(keras.ops.convert_to_numpy(variable).tobytes())
    return digest.hexdigest()[:16]


def train(recipe, force=False):
    """Runs a recipe end to end; returns a dict of what it produced. A finished run in
    the recipe's output_dir is refused unless `force` (then it is replaced)."""
    t = recipe.training
    if t.distribute == "multi_worker":
        from tfbert.training.cluster import read_tf_config, scratch_directory

        cluster = read_tf_config(os.environ.get("TF_CONFIG", ""))  # checked before any write
        if not cluster.is_chief:
            with scratch_directory(cluster) as scratch:
                return _train(recipe, force, RunDirectory(scratch), export=False)
    return _train(recipe, force, RunDirectory(recipe.output_dir), export=recipe.export.enabled)


def _train(recipe, force, run, export):
    """train() in `run`: the recipe's output_dir, or a worker's scratch directory
    (which resumes from the output_dir's checkpoints, exports nothing and skips the
    baseline)."""
    t = recipe.training
    keras.utils.set_random_seed(t.seed)
    chief_run = RunDirectory(recipe.output_dir)
    run.start(recipe, force=force)
    if export:
        check_writable_directory(recipe.export.dir, "export.dir")

    train_examples = read_split(recipe, recipe.data.train)
    if recipe.data.max_train_examples:
        train_examples = train_examples.select(range(min(recipe.data.max_train_examples,
                                                         len(train_examples))))
    dev_examples = read_split(recipe, recipe.data.dev) if recipe.data.dev else None
    print(f"train: {len(train_examples)} examples from {train_examples.source}")

    strategy, cluster = make_strategy(t.distribute, t.worker_timeout, t.collective)
    if strategy is not None:
        print(describe_strategy(strategy, t.batch_size, cluster))
    task, data = prepare_training(recipe, train_examples, strategy)
    steps_per_epoch = data.steps_per_epoch(t.batch_size)
    epochs = epochs_to_run(t, steps_per_epoch)
    total_steps = steps_per_epoch * epochs
    if epochs != t.epochs:
        print(f"training {epochs} epochs, not {t.epochs}: training.min_steps = {t.min_steps} "
              f"at {steps_per_epoch} steps per epoch")

    manager, checkpoint = resume_manager(task, run.resume_dir)
    latest = tf.train.latest_checkpoint(str(chief_run.resume_dir))  # the chief's, on every worker
    dev_state = {}
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        dev_state = chief_run.dev_state()
    done = int(task.optimizer.iterations.numpy())
    stopped_early = bool(dev_state.get("stopped_early"))
    if stopped_early:
        print(f"this run stopped early at epoch {dev_state['epoch']}; evaluating and exporting")
    elif done >= total_steps:
        print(f"already trained {done}/{total_steps} steps; evaluating and exporting")
    elif done:
        print(f"resuming from step {done}/{total_steps} ({latest})")

    callbacks = [ResumeCheckpoint(manager, t.checkpoint_every),
                 keras.callbacks.TensorBoard(str(run.logs_dir), update_freq=50)]
    if dev_examples is not None:
        callbacks.insert(0, DevEvaluation(
            lambda: evaluate_task(task, dev_examples, on_unknown=recipe.data.on_unknown_label)[0],
            t.eval_metric, run.best_weights_file, run.dev_state_file, best=dev_state.get("best"),
            best_epoch=dev_state.get("best_epoch"), patience=t.patience))

    fit_options = task.preprocessor.fit_options(recipe.options, data.targets)
    if "class_weight" in fit_options:
        print("class weights: " + ", ".join(  # only classifiers weigh classes
            f"{task.label_names[c]} {w:.2f}" for c, w in fit_options["class_weight"].items()))
    started = time.perf_counter()
    if done < total_steps and not stopped_early:
        task.fit(data, batch_size=t.batch_size, epochs=epochs, seed=t.seed, initial_step=done,
                 callbacks=callbacks, **fit_options)
    seconds = time.perf_counter() - started
    trained = int(task.optimizer.iterations.numpy()) - done
    if cluster is not None:
        print(f"{cluster.task_type} {cluster.task_index}: weights after "
              f"{int(task.optimizer.iterations.numpy())} steps: sha256 {weights_digest(task)}",
              flush=True)

    if dev_examples is not None and run.best_weights_file.exists():
        task.load_weights(str(run.best_weights_file))
    if dev_examples is not None:
        chosen = task.choose_on_dev(recipe.options, dev_examples)
        if chosen:
            print(chosen)
    elif getattr(recipe.options, "calibrate", False):
        print("calibration: no dev set (data.dev), so no temperature is fitted: the "
              "probabilities are the model's own")
    run.save_task(task, keep_optimizer_state=t.keep_optimizer_state)
    task.save_artifacts(run.path)

    # Whole epochs see every example once; a resumed part epoch is counted pro rata.
    examples_seen = trained * len(data) / data.steps_per_epoch(t.batch_size)
    dev_state = run.dev_state()
    result = {"epochs": epochs, "steps": total_steps, "steps_run": trained,
              "best_epoch": dev_state.get("best_epoch"),
              "stopped_early": bool(dev_state.get("stopped_early")),
              "train_seconds": seconds,
              "train_examples_per_second": examples_seen / seconds if trained else None,
              "output_dir": str(chief_run.path)}
    splits = {"train": train_examples, "dev": dev_examples}
    for split, path in (("dev", recipe.data.dev), ("test", recipe.data.test)):
        if path:
            examples = splits[split] = dev_examples if split == "dev" else read_split(recipe, path)
            metrics, summary = evaluate_task(task, examples, run.evaluation_dir(split),
                                             on_unknown=recipe.data.on_unknown_label)
            result[split] = metrics
            print(f"{split}:\n{summary}")
    if t.baseline and (recipe.data.dev or recipe.data.test) and (cluster is None or cluster.is_chief):
        simple = run_baseline(recipe, run.path, read_splits=splits)  # the very data BERT had
        if simple is not None:
            result["baseline"] = simple
            print(comparison(recipe, simple, result))
    if export:
        result["export"] = str(export_for_serving(task, recipe.export.dir, recipe.export.name,
                                                    compute_dtype=recipe.export.compute_dtype,
                                                    jit_compile=recipe.export.xla,
                                                    explain_steps=explain_steps(recipe)))
        print(f"exported {result['export']}")
    run.finish(result)
    return result
