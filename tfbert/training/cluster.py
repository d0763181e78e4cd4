"""The cluster of a `training.distribute = "multi_worker"` run, read from TF_CONFIG.

TF_CONFIG is TensorFlow's own description of a cluster (one JSON object per process):

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

A "chief" job may be listed too (`"chief": ["host0:12345"]`); then the chief is
chief 0, otherwise worker 0. The chief writes the run directory; every other process
trains in step with it and writes only to a temporary directory it removes.

TensorFlow itself reads TF_CONFIG when MultiWorkerMirroredStrategy is made, and a
mistake there shows up as a hang (waiting for a worker that is not coming) or as a
gRPC error far from its cause. Everything that can be checked before the strategy
starts is checked here, with the key and value named.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import shutil
import socket
import tempfile

JOBS = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class Cluster:
    """This process's place in the cluster TF_CONFIG describes."""

    jobs: dict  # job name -> list of "host:port"
    task_type: str
    task_index: int

    @property
    def address(self):
        return self.jobs[self.task_type][self.task_index]

    @property
    def is_chief(self):
        chief_type = "chief" if "chief" in self.jobs else "worker"
        return self.task_type == chief_type and self.task_index == 0

    @property
    def size(self):
        return sum(len(addresses) for addresses in self.jobs.values())

    def describe(self):
        role = "chief" if self.is_chief else "not the chief: writes nothing to the run directory"
        return f"{self.task_type} {self.task_index} of {self.size} processes at {self.address} ({role})"


def read_tf_config(text):
    """TF_CONFIG's text -> Cluster, or ValueError naming what is wrong with it."""
    if not text or not text.strip():
        raise ValueError('training.distribute = "multi_worker" needs TF_CONFIG, the cluster as '
                         'TensorFlow describes it, e.g. {"cluster": {"worker": ["host1:12345", '
                         '"host2:12345"]}, "task": {"type": "worker", "index": 0}}; on one machine '
                         "`tfbert train RECIPE --workers 2` makes it for you.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error.msg} at character {error.pos} "
                         f"(TF_CONFIG = {text[:200]!r}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object with keys cluster and task, got {text[:200]!r}.")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError('TF_CONFIG has no "cluster" object (job name -> list of "host:port").')
    unknown = sorted(set(cluster) - set(JOBS))
    if unknown:
        raise ValueError(f"TF_CONFIG cluster has job(s) {', '.join(map(repr, unknown))}; "
                         f"multi_worker training uses only {' and '.join(JOBS)}.")
    if "chief" in cluster and len(cluster["chief"]) != 1:
        raise ValueError(f"TF_CONFIG cluster.chief must list exactly one address, got {cluster['chief']!r}.")
    seen = {}
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise ValueError(f"TF_CONFIG cluster.{job} must be a non-empty list of \"host:port\", "
                             f"got {addresses!r}.")
        for i, address in enumerate(addresses):
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"TF_CONFIG cluster.{job}[{i}] = {address!r} is not \"host:port\".")
            if address in seen:
                raise ValueError(f"TF_CONFIG cluster.{job}[{i}] = {address!r} is also {seen[address]}.")
            seen[address] = f"cluster.{job}[{i}]"
    if not isinstance(task, dict):
        raise ValueError('TF_CONFIG has no "task" object ({"type": "worker", "index": N}): '
                         "which process of the cluster this is.")
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise ValueError(f"TF_CONFIG task.type = {task_type!r} is not a job of the cluster "
                         f"({', '.join(cluster)}).")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"TF_CONFIG task.index = {index!r}: it must be this process's position "
                         f"(an integer) in cluster.{task_type}.")
    if not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"TF_CONFIG task.index = {index} is not in cluster.{task_type}, which lists "
                         f"{len(cluster[task_type])} address(es): {', '.join(cluster[task_type])}.")
    return Cluster({job: list(map(str, cluster[job])) for job in JOBS if job in cluster},
                   task_type, index)


def check_port_free(cluster):
    """This process's own port must be free: TensorFlow's gRPC server binds it, and a
    port already taken fails later with an error that does not say which."""
    port = int(cluster.address.rpartition(":")[2])
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As gRPC does: a port whose last connections are closing (a worker restarted
    # after a crash) may be bound again; one that a live server listens on may not.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("", port))
    except OSError as error:
        raise ValueError(f"TF_CONFIG: port {port} of this process's address {cluster.address} "
                         f"(cluster.{cluster.task_type}[{cluster.task_index}]) is in use "
                         f"({error.strerror}); another program or an earlier worker holds it.") from None
    finally:
        probe.close()


_SCRATCH = re.compile(r"^tfbert-(?:chief|worker)\d+-(\d+)-")


@contextlib.contextmanager
def scratch_directory(cluster):
    """A temporary directory for a worker that is not the chief, removed on the way out.
    A worker killed outright cannot remove its own; the next one started on the
    machine removes those of processes that no longer exist."""
    root = pathlib.Path(tempfile.gettempdir())
    for stale in root.glob("tfbert-*"):
        match = _SCRATCH.match(stale.name)
        if match and stale.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(stale, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=f"tfbert-{cluster.task_type}{cluster.task_index}-{os.getpid()}-")
    try:
        yield pathlib.Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
