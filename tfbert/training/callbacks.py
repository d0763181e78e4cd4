"""Callbacks of a fine-tuning run: dev evaluation and the resume checkpoint."""

import json
import pathlib

import keras
import tensorflow as tf

from tfbert.io.atomic_files import replacing, write_atomically


class DevEvaluation(keras.callbacks.Callback):
    """At each epoch end: scikit-learn metrics on the dev set, into the Keras logs as
    `dev_<metric>`, and the model's weights saved when `metric` improves.

    Keras' own validation metrics average over batches; F1 and Spearman do not
    decompose that way, so the dev set is predicted whole and scored once.

    patience: stop training once `patience` epochs in a row have not improved on the
    best (0: never stop early). The best epoch's weights are what the run keeps either
    way. Keras' EarlyStopping reads Keras' own logs and keeps its best weights in
    memory, which a resumed run would lose; this state lives in `state_path`.
    """

    def __init__(self, evaluate_fn, metric, best_weights_path, state_path, best=None,
                 best_epoch=None, patience=0):
        super().__init__()
        self.evaluate_fn = evaluate_fn  # () -> metrics dict
        self.metric = metric
        self.best_weights_path = str(best_weights_path)
        self.state_path = pathlib.Path(state_path)
        self.best = best
        self.best_epoch = best_epoch  # 1-based, as printed
        self.patience = patience

    def on_epoch_end(self, epoch, logs=None):
        metrics = self.evaluate_fn()
        if self.metric not in metrics or metrics[self.metric] is None:
            raise ValueError(
                f"eval_metric {self.metric!r} is not available; the dev metrics are: "
                f"{', '.join(k for k, v in metrics.items() if isinstance(v, (int, float)))}."
            )
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if logs is not None:
                    logs[f"dev_{key}"] = value
        value = metrics[self.metric]
        improved = self.best is None or value > self.best
        if improved:
            self.best, self.best_epoch = value, epoch + 1
            # Whole or not at all: a run killed here resumes and reads this file.
            with replacing(self.best_weights_path) as temporary:
                self.model.save_weights(str(temporary))
        last = (self.params or {}).get("epochs") or float("inf")  # Keras' fit(epochs=...)
        stop = (bool(self.patience) and self.best_epoch is not None  # None: an older run's state
                and epoch + 1 - self.best_epoch >= self.patience and epoch + 1 < last)
        write_atomically(self.state_path, json.dumps(
            {"best": self.best, "epoch": epoch + 1, "best_epoch": self.best_epoch,
             "stopped_early": stop}))
        print(f"\n  dev {self.metric} = {value:.4f}"
              f"{' (best so far, saved)' if improved else f' (best {self.best:.4f}, epoch {self.best_epoch})'}",
              flush=True)
        if stop:
            print(f"  stopping early: no better dev {self.metric} for {self.patience} epoch(s) "
                  f"(training.patience); keeping epoch {self.best_epoch}", flush=True)
            self.model.stop_training = True


class ResumeCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer state every `every` steps (and at each epoch end, after
    the dev evaluation: put it after DevEvaluation in the callbacks) with
    `tf.train.CheckpointManager`, so a killed run restarts where it stopped.

    The optimizer's `iterations` is the global step: the learning-rate schedule and
    the batch plan both resume from it.

    Each checkpoint, once written whole, is announced on stdout ("resume checkpoint:
    step N (directory)"): from then on a killed run resumes from step N. (Tests that
    kill a run wait for this line, not for a timer.)
    """

    def __init__(self, manager, every):
        super().__init__()
        self.manager = manager
        self.every = every

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        # Not at an epoch's last batch: `on_epoch_end` saves that step once the dev set
        # is evaluated (DevEvaluation runs first). Saved here, a run killed before the
        # evaluation would resume in the next epoch and never evaluate this one.
        if step % self.every == 0 and batch + 1 != (self.params or {}).get("steps"):
            self._save(step)

    def on_epoch_end(self, epoch, logs=None):
        self._save(int(self.model.optimizer.iterations.numpy()))

    def _save(self, step):
        self.manager.save(checkpoint_number=step)
        print(f"\n  resume checkpoint: step {step} ({self.manager.directory})", flush=True)


def resume_manager(model, directory):
    """A CheckpointManager over the model's and optimizer's variables."""
    checkpoint = tf.train.Checkpoint(
        model_variables=[v.value for v in model.variables],
        optimizer_variables=[v.value for v in model.optimizer.variables],
    )
    return tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=2), checkpoint
