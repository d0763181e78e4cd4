"""Two narrow fixes that let Keras 3.15's `model.fit` run under
MultiWorkerMirroredStrategy (keras-team/keras#20585, tensorflow/tensorflow#72388).

Why fixes and not a step loop of our own: `fit` is what the rest of tfbert is built
on (callbacks for dev evaluation, best weights, resume checkpoints, early stopping,
TensorBoard, progress bars), and only two calls inside Keras fail; a loop of our own
would have to re-create all of that and keep it in step with Keras. The fixes are
applied only when a multi-worker strategy is made, change behaviour only under that
strategy, and refuse to run on a Keras version they were not written for (a
newer Keras may fix or move these calls: then this file is checked again).

1. `TensorFlowTrainer._maybe_symbolic_build` takes the first batch to build the model
   and reduces it across replicas with `strategy.reduce("MEAN", batch, axis=None)`. A
   batch is a per-replica value of the workers' different rows; under
   MultiWorkerMirroredStrategy that reduce cannot convert it ("Attempt to convert a
   value (PerReplica...)"). Only the batch's shapes and dtypes matter for building,
   so this process's own first replica's rows are used instead.
2. `reduce_per_replica(logs, strategy, "auto")` reduces each replica's metric values
   with `strategy.reduce("MEAN", v, axis=0)` under multi-worker strategies. Metric
   results are scalars, and axis 0 of a scalar is an error ("Invalid reduction
   dimension 0 for input with 0 dimensions"). The mean over replicas (axis=None) is
   what every other strategy computes for them; non-scalar values and every other
   reduction ("concat" for predict) go to Keras unchanged.
"""

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

WRITTEN_FOR = ("3.15.",)  # Keras versions these fixes were written against and tested on


def _is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def apply_fixes():
    """Installs both fixes (once); RuntimeError on a Keras they were not written for."""
    if getattr(tf_trainer, "_tfbert_multi_worker_fixes", False):
        return
    trainer = getattr(tf_trainer, "TensorFlowTrainer", None)
    if (not keras.__version__.startswith(WRITTEN_FOR) or trainer is None
            or not hasattr(trainer, "_maybe_symbolic_build")
            or not hasattr(tf_trainer, "reduce_per_replica")):
        raise RuntimeError(
            f'training.distribute = "multi_worker" works around two Keras bugs with fixes '
            f"written for Keras {', '.join(v + 'x' for v in WRITTEN_FOR)}; this is Keras "
            f"{keras.__version__}. See tfbert/training/keras_multi_worker.py: check whether this "
            "Keras still needs them, then add its version to WRITTEN_FOR.")

    keras_build = trainer._maybe_symbolic_build

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is None or not _is_multi_worker(self.distribute_strategy):
            return keras_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            first = next(batches)
            data_batch = tf.nest.map_structure(
                lambda value: (self.distribute_strategy.experimental_local_results(value)[0]
                               if isinstance(value, tf.distribute.DistributedValues) else value),
                first)
            break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    keras_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
            return keras_reduce(values, strategy, reduction)

        def mean(value):
            # One replica per worker hands Keras plain tensors, several hand it
            # per-replica values: a scalar is a scalar either way.
            local = (value.values[0] if isinstance(value, tf.distribute.DistributedValues)
                     else value)
            if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return keras_reduce(value, strategy, reduction)

        return tf.nest.map_structure(mean, values)

    trainer._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._tfbert_multi_worker_fixes = True
