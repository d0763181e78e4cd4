"""`training.distribute`: which tf.distribute strategy a run trains under.

    none          the default strategy (one device)
    mirrored      MirroredStrategy over every local GPU, or every logical CPU device when
                  there is no GPU (one on an ordinary machine; tests make two)
    multi_worker  MultiWorkerMirroredStrategy over the processes TF_CONFIG lists (one
                  per machine, each with its local GPUs; `tfbert train --workers N`
                  starts N on this machine): tfbert/training/cluster.py

`training.batch_size` is the global batch: each of N replicas gets batch_size / N
rows of every batch, and the learning-rate schedule counts global steps, so a run
on N devices takes the same steps with the same rates as on one. Gradients are summed
across replicas before they are clipped (`AdamWWithHeadRate`), as on one device.

Every worker plans the same batches from (seed, epoch) and tf.distribute gives each
its own rows of every global batch (DATA sharding after the batch is split), so a
length-bucketed batch stays one length on every worker.
"""

import os
import subprocess
import sys

import tensorflow as tf

from tfbert.training.cluster import check_port_free, read_tf_config

STRATEGIES = ("none", "mirrored", "multi_worker")


COLLECTIVES = {"auto": "AUTO", "ring": "RING", "nccl": "NCCL"}


def make_strategy(name, worker_timeout=300, collective="auto", environ=None):
    """(strategy, cluster) for `name`: (None, None) for "none", cluster None unless
    multi_worker. A multi_worker process whose cluster does not come up within
    `worker_timeout` seconds is an error naming the cluster, not a hang."""
    if name == "none":
        return None, None
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices]), None
    if name == "multi_worker":
        cluster = read_tf_config((os.environ if environ is None else environ).get("TF_CONFIG", ""))
        check_port_free(cluster)
        from tfbert.training.keras_multi_worker import apply_fixes

        apply_fixes()
        print(f"multi_worker: this process is {cluster.describe()}; waiting up to "
              f"{worker_timeout} s (training.worker_timeout) for the others", flush=True)
        everyone = ", ".join(f"{job} {i} at {address}" for job, addresses in cluster.jobs.items()
                             for i, address in enumerate(addresses))
        watchdog = start_watchdog(worker_timeout, (
            f"tfbert: multi_worker: not every process of the cluster joined within "
            f"training.worker_timeout = {worker_timeout} s ({everyone}); start the same "
            "command on each, with its own TF_CONFIG. Stopping this one."))
        try:
            implementation = getattr(tf.distribute.experimental.CommunicationImplementation,
                                     COLLECTIVES[collective])
            options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options), cluster
        finally:
            watchdog.stdin.close()  # the watchdog's signal to stand down
            watchdog.wait()
    raise ValueError(f"training.distribute = {name!r} is not one of: {', '.join(STRATEGIES)}.")


# Waiting for the cluster happens inside one TensorFlow call that holds the GIL (and
# TensorFlow catches SIGTERM), so no thread or signal handler of this process can end
# the wait: a small process of its own does, unless this one closes its stdin first.
WATCHDOG = """
import os, select, signal, sys
parent, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], seconds)[0]:
    sys.stderr.write(message + "\\n")
    sys.stderr.flush()
    os.kill(parent, signal.SIGKILL)
"""


def start_watchdog(seconds, message):
    """A process that prints `message` and kills this one after `seconds`, unless its
    stdin is closed first (or this process ends)."""
    from tfbert.io.quiet_logs import unfiltered_stderr_fd

    stderr = unfiltered_stderr_fd()
    return subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(seconds), message],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
                            pass_fds=() if stderr == 2 else (stderr,))


def describe(strategy, global_batch, cluster=None):
    """The line a run prints: replicas, devices and the per-replica batch. A global
    batch that the replicas cannot share evenly is an error naming both."""
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(f"training.batch_size = {global_batch} is the global batch; it must be a "
                         f"multiple of the {replicas} replicas of training.distribute "
                         f"(each replica gets batch_size / {replicas} rows).")
    devices = ", ".join(strategy.extended.worker_devices)
    where = (f"{replicas} replica(s) on {cluster.size} worker(s), this one's: {devices}" if cluster
             else f"{replicas} replica(s) ({devices})")
    name = "multi_worker" if cluster else "mirrored"
    return (f"distribute = {name}: {where}; global batch {global_batch} = "
            f"{global_batch // replicas} per replica; the learning-rate schedule counts global steps")
