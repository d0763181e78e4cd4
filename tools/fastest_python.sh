#!/bin/sh
# Prints the interpreter the virtual environments are made with: of the CPython builds
# on this machine with the same version as `python3` (so that every wheel the project
# installs exists for it) and with venv and ensurepip, the fastest at a short pure-Python
# loop.
#
# Why: most of the test suite's time is Python, not arithmetic (tracing TensorFlow
# graphs, Keras' layer calls, the reference tokenizer). Builds of one CPython version
# differ: a distribution's build with profile-guided and link-time optimization ran
# calls and objects in 1.3 s where a plain source build (pyenv's default) took 2.0 s,
# `import tensorflow` in 7.8 s of CPU against 9.2 s, and a sample of the tests (export,
# training, CRF) in 82 s against 96 s. Where only one build is found, it is `python3`.
#
#   PYTHON=/path/to/python make setup    # bypasses this choice
set -u
default=$(command -v python3) || { echo "python3 not found" >&2; exit 1; }
version=$("$default" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# Calls, objects and attributes, as in tracing code. The best of five rounds: a busy
# machine slows some rounds, never speeds one up.
loop='import time
class Node:
    def __init__(self, value, parent=None):
        self.value, self.parent = value, parent
    def depth(self):
        return 0 if self.parent is None else 1 + self.parent.depth()
def round_time():
    start, total = time.process_time(), 0
    for i in range(20000):
        node = None
        for j in range(10):
            node = Node(j, node)
        total += node.depth() + len([str(k) for k in range(5)])
    return time.process_time() - start
print(min(round_time() for _ in range(5)))'


best="$default"
best_time=
for candidate in "$default" "python$version" "/usr/bin/python$version" "/usr/local/bin/python$version"; do
    path=$(command -v "$candidate" 2>/dev/null) || continue
    "$path" -c "import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" \
        >/dev/null 2>&1 || continue
    seconds=$("$path" -c "$loop" 2>/dev/null) || continue
    if [ -z "$best_time" ] || "$default" -c "import sys; sys.exit(not $seconds < 0.9 * $best_time)"; then
        best="$path"
        best_time="$seconds"
    fi
done
echo "$best"
