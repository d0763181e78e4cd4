"""`training.distribute`: which tf.distribute strategy a run trains under.

    none      the default strategy (one device)
    mirrored  MirroredStrategy over every local GPU, or every logical CPU device when
              there is no GPU (one on an ordinary machine; tests make two)

`training.batch_size` is the global batch: each of N replicas gets batch_size / N
rows of every batch, and the learning-rate schedule counts global steps, so a run
on N devices takes the same steps with the same rates as on one. Gradients are summed
across replicas before they are clipped (`AdamWWithHeadRate`), as on one device.
Several machines (MultiWorkerMirroredStrategy) are not built yet.
"""

import tensorflow as tf

STRATEGIES = ("none", "mirrored")


def make_strategy(name):
    """The strategy `name` names, or None for "none"."""
    if name == "none":
        return None
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    raise ValueError(f"training.distribute = {name!r} is not one of: {', '.join(STRATEGIES)}.")


def describe(strategy, global_batch):
    """The line a run prints: replicas, devices and the per-replica batch. A global
    batch that the replicas cannot share evenly is an error naming both."""
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(f"training.batch_size = {global_batch} is the global batch; it must be a "
                         f"multiple of the {replicas} replicas of training.distribute "
                         f"(each replica gets batch_size / {replicas} rows).")
    devices = ", ".join(strategy.extended.worker_devices)
    return (f"distribute = mirrored: {replicas} replica(s) ({devices}); global batch "
            f"{global_batch} = {global_batch // replicas} per replica; the learning-rate "
            "schedule counts global steps")
