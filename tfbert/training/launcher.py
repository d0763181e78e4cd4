"""`tfbert train RECIPE --workers N`: a multi_worker run on this machine.

Starts N copies of the same `tfbert train` command on 127.0.0.1, each with its own
TF_CONFIG (ports chosen by binding port 0) and an equal share of the CPU threads,
streams the chief's output, and stops every worker as soon as one fails (a lost
worker would otherwise leave the others waiting on a collective). Started again with
the same command, the workers resume from the chief's last checkpoint.

On real machines nothing of this is needed: run the same `tfbert train` on each, with
`training.distribute = "multi_worker"` and that machine's TF_CONFIG (README,
"Several GPUs and several machines").
"""

import collections
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

STOP_GRACE_SECONDS = 10


def free_ports(count):
    """`count` distinct ports nothing listens on now (held open together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def _die_with_parent():
    """Linux: a worker is killed when the launcher dies, however it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _collect(stream, index, tail):
    """A non-chief's output: kept (its last lines are printed if it fails); its
    weights digest is passed on, so the user sees that the workers agree."""
    for line in stream:
        tail.append(line)
        if "weights after" in line:
            print(f"[worker {index}] {line}", end="", flush=True)


def launch(arguments, workers, threads=None):
    """Runs `tfbert <arguments> --set training.distribute=multi_worker` as `workers`
    processes; returns the exit code (0 when every worker finished)."""
    if workers < 2:
        raise ValueError(f"--workers {workers}: a multi-worker run needs at least 2 workers.")
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    ports = free_ports(workers)
    command = [sys.executable, "-m", "tfbert.cli", *arguments,
               "--set", "training.distribute=multi_worker"]
    print(f"starting {workers} workers on 127.0.0.1 (ports {', '.join(map(str, ports))}), "
          f"{threads} thread(s) each", flush=True)
    processes, tails, readers = [], [], []
    for index in range(workers):
        env = dict(os.environ, TF_CONFIG=tf_config(ports, index),
                   TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
        chief = index == 0
        process = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent,
                                   stdout=None if chief else subprocess.PIPE,
                                   stderr=None if chief else subprocess.STDOUT,
                                   text=True, errors="replace")
        processes.append(process)
        tails.append(collections.deque(maxlen=40))
        print(f"started worker {index} (pid {process.pid}){' (chief)' if chief else ''}", flush=True)
        if not chief:
            reader = threading.Thread(target=_collect, args=(process.stdout, index, tails[index]),
                                      daemon=True)
            reader.start()
            readers.append(reader)
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                index = failed[0]
                _stop(processes)
                for reader in readers:
                    reader.join(timeout=5)
                print(f"tfbert: worker {index} (pid {processes[index].pid}) exited with code "
                      f"{codes[index]}; stopped the others. The same command resumes from the "
                      "last checkpoint.", file=sys.stderr, flush=True)
                if index:  # the chief's own output is already on the terminal
                    print(f"its last lines:\n{''.join(tails[index])}", file=sys.stderr, flush=True)
                return codes[index] if codes[index] > 0 else 128 - codes[index]
            if all(code == 0 for code in codes):
                for reader in readers:
                    reader.join(timeout=5)
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop(processes)
        raise


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
