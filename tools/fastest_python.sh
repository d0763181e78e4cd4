#!/bin/sh
# Prints the interpreter the virtual environments are made with: of the CPython builds
# on this machine with the same version as `python3` (so that every wheel the project
# installs exists for it) and with venv and ensurepip, the fastest at a short pure-Python
# loop of calls and objects (as in tracing code).
#
# Why: most of the test suite's time is Python, not arithmetic (tracing TensorFlow
# graphs, Keras' layer calls, the reference tokenizer). Builds of one CPython version
# differ: a distribution's build with profile-guided and link-time optimization ran
# calls and objects in 1.3 s where a plain source build (pyenv's default) took 2.0 s,
# `import tensorflow` in 7.8 s of CPU against 9.2 s, and a sample of the tests (export,
# training, CRF) in 82 s against 96 s. Where only one build is found, it is `python3`.
#
# The candidates are timed in turns (seven rounds, each a fresh process, the best round
# of each kept), so that a machine busy with other work slows them alike; another build
# is chosen over python3 only when it is at least 10 % faster.
#
#   PYTHON=/path/to/python make setup    # bypasses this choice
set -u
default=$(command -v python3) || { echo "python3 not found" >&2; exit 1; }
exec "$default" - <<'EOF'
import os
import shutil
import subprocess
import sys

LOOP = """
import time
class Node:
    def __init__(self, value, parent=None):
        self.value, self.parent = value, parent
    def depth(self):
        return 0 if self.parent is None else 1 + self.parent.depth()
start, total = time.process_time(), 0
for i in range(40000):
    node = None
    for j in range(10):
        node = Node(j, node)
    total += node.depth() + len([str(k) for k in range(5)])
print(time.process_time() - start)
"""
CHECK = ("import os, sys, venv, ensurepip; "
         "print('%d.%d' % sys.version_info[:2], os.path.realpath(sys.executable))")


def probe(path):
    """(version, real path) of a usable interpreter, else None."""
    try:
        done = subprocess.run([path, "-c", CHECK], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return tuple(done.stdout.split()) if done.returncode == 0 else None


version = "%d.%d" % sys.version_info[:2]
names = [shutil.which("python3"), shutil.which(f"python{version}"),
         f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
candidates, seen = [], set()
for name in names:
    found = probe(name) if name and os.path.exists(name) else None
    if found and found[0] == version and found[1] not in seen:
        seen.add(found[1])
        candidates.append(name)
best = {name: float("inf") for name in candidates}
for _ in range(7 if len(candidates) > 1 else 0):
    for name in candidates:
        done = subprocess.run([name, "-c", LOOP], capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            best[name] = min(best[name], float(done.stdout))
choice = candidates[0] if candidates else sys.executable
for name in candidates[1:]:
    if best[name] < 0.9 * best[choice]:
        choice = name
print(choice)
EOF
