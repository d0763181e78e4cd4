"""JSON-lines output written window by window, that a killed run continues.

    output = ResumableOutput("preds.jsonl.gz", shards=4, identity={...})
    position = output.resume(force=False)   # where the last run stopped, or None
    output.write_window(lines, rejects, position)   # whole, then recorded

Each window's lines go to one shard (windows in turn: preds-00000-of-00004.jsonl.gz,
...), appended, flushed and synced to disk; only then does the progress record
(`<output>.progress.json`, replaced whole) name the new sizes of every file and the
input position. A run killed at any moment leaves files whose first bytes, up to the
recorded sizes, hold whole windows: started again, it cuts each file back to its
recorded size and goes on after the recorded position, so no row is written twice
or lost. A gzip output holds one gzip member per window (gzip readers read the
members as one stream), so cutting back at a member's end leaves valid gzip.

Rows that could not be read (on_error="skip") go to `<output stem>.rejects.jsonl`
beside the output, under the same rule. Outputs are local files: an object store
cannot be appended to or cut back (Apache Beam is the way to write to buckets).
"""

import gzip
import json
import os
import pathlib

from tfbert.io.atomic_files import write_atomically

PROGRESS_SUFFIX = ".progress.json"


class OutputError(ValueError):
    pass


def _split_name(path):
    """("dir/preds", ".jsonl.gz") of "dir/preds.jsonl.gz"; gzip when it ends in .gz."""
    name = path.name
    for suffix in (".jsonl.gz", ".json.gz", ".gz", ".jsonl", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return path.with_name(name[:-len(suffix)]), suffix
    return path, ""


class ResumableOutput:
    def __init__(self, path, shards=1, identity=None):
        path = pathlib.Path(path)
        if "://" in str(path):
            raise OutputError(f"{path}: the output must be a local file (a bucket cannot be "
                              "appended to and cut back); write locally and copy, or run the "
                              "Apache Beam pipeline.")
        if shards < 1:
            raise OutputError(f"--shards must be 1 or more, got {shards}.")
        self.path, self.shards = path, int(shards)
        self.stem, self.suffix = _split_name(path)
        self.gzip = self.suffix.endswith(".gz")
        self.progress_file = path.with_name(path.name + PROGRESS_SUFFIX)
        self.rejects_file = self.stem.with_name(self.stem.name + ".rejects.jsonl")
        self.identity = identity or {}
        self.state = None

    @property
    def files(self):
        """The output file, or its shards in order."""
        if self.shards == 1:
            return [self.path]
        return [self.stem.with_name(f"{self.stem.name}-{i:05d}-of-{self.shards:05d}{self.suffix}")
                for i in range(self.shards)]

    def resume(self, force=False):
        """Prepares the files; returns the recorded state of an unfinished earlier run with
        the same identity (None when starting afresh). An earlier run's files without a
        matching record are an error unless `force` (which starts over)."""
        existing = [p for p in (*self.files, self.rejects_file, self.progress_file) if p.exists()]
        if force or not existing:
            self.start()
            return None
        if not self.progress_file.exists():
            raise OutputError(f"{existing[0]} exists and no progress record ({self.progress_file.name}) "
                              "says which run wrote it; --force replaces it.")
        state = json.loads(self.progress_file.read_text(encoding="utf-8"))
        if state.get("identity") != self.identity:
            changed = sorted(key for key in set(state.get("identity", {})) | set(self.identity)
                             if state.get("identity", {}).get(key) != self.identity.get(key))
            raise OutputError(f"{self.path} was written by another command or from other inputs "
                              f"(differs in: {', '.join(changed)}); --force replaces it.")
        for file, size in state["sizes"].items():
            path = self.path.parent / file
            if not path.exists() or path.stat().st_size < size:
                raise OutputError(f"{path} is shorter than its progress record says ({size} "
                                  "bytes): it was changed after the run; --force starts over.")
            with open(path, "r+b") as stream:
                stream.truncate(size)  # the window a kill cut short, if any
        self.state = state
        return state

    def start(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for path in (*self.files, self.rejects_file):
            path.write_bytes(b"")
        self.state = {"identity": self.identity, "windows": 0, "rows": 0, "rejected": 0,
                      "position": None, "finished": False,
                      "sizes": {p.name: 0 for p in (*self.files, self.rejects_file)}}
        self._save()

    def write_window(self, lines, rejects, position):
        """Appends a window's JSON lines (strings) to the next shard and its rejects,
        syncs them, then records the new sizes and `position` (where reading goes on)."""
        shard = self.files[self.state["windows"] % self.shards]
        for path, items in ((shard, lines), (self.rejects_file, rejects)):
            if not items:
                continue
            data = "".join(item + "\n" for item in items).encode("utf-8")
            if self.gzip and path != self.rejects_file:
                data = gzip.compress(data, compresslevel=6, mtime=0)
            with open(path, "ab") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            self.state["sizes"][path.name] = path.stat().st_size
        self.state["windows"] += 1
        self.state["rows"] += len(lines)
        self.state["rejected"] += len(rejects)
        self.state["position"] = position
        self._save()

    def finish(self):
        self.state["finished"] = True
        self._save()
        if not self.state["rejected"]:
            self.rejects_file.unlink(missing_ok=True)
            self.state["sizes"].pop(self.rejects_file.name, None)
            self._save()

    def _save(self):
        write_atomically(self.progress_file, json.dumps(self.state, ensure_ascii=False, indent=1))
