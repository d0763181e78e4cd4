"""Batch prediction beyond one machine: an Apache Beam pipeline over an exported model.

    tfbert predict RUN_OR_EXPORT --input 'gs://bucket/texts/*.tsv' --output gs://bucket/preds \\
        --runner DataflowRunner --export gs://bucket/models/intent/3 -- --project P ...

    inputs ─► read each file's rows with their line numbers, as tfbert predict does
           ─► reshuffle (rows spread over workers)
           ─► RunInference: the exported SavedModel, raw strings in, batches of up to
              `batch_size` rows (the export sorts each batch by length in its graph)
           ─► the rows `tfbert predict` writes (the postprocessor's pure-Python half)
           ─► sharded JSON lines (.gz when the output name ends in .gz)

Each worker loads the SavedModel once (Beam shares it between a worker's threads) and
needs only tensorflow and tensorflow-text to run it, as TF Serving does; the rows'
meaning comes from the run's task.json (or the export's assets.extra/tfbert_task.json),
read here and shipped with the pipeline.
Rows carry their file and line: Beam writes them in no particular order. A file is
read by one worker from start to end (line numbers need it): give a large input as
many files for parallel reading. `apache-beam` is an optional extra
(`pip install tfbert[beam]`); docs/batch_prediction.md says how to run this on
Dataflow, Flink and Spark.
"""

import json

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from tfbert.predict import export_recipe, input_windows
from tfbert.tasks.registry import answers_class_of


class ExportedModelHandler(ModelHandler):
    """RunInference's handler for a tfbert export: batches of examples ({"text": ...,
    "text_pair": ...}) -> one prediction row each."""

    def __init__(self, export_dir, kind, config, top_k=None, batch_size=64):
        # Batches in arrival order: the export sorts each batch by length in its graph
        # and runs it in chunks padded to their own longest (Beam's length buckets
        # need a streaming pipeline's max_batch_duration_secs).
        super().__init__(min_batch_size=1, max_batch_size=int(batch_size))
        self.export_dir, self.kind, self.config = str(export_dir), kind, config
        self.top_k, self.batch_size = top_k, int(batch_size)

    def load_model(self):
        from tfbert.serving.local_client import LocalClient

        return LocalClient(self.export_dir)

    def run_inference(self, batch, model, inference_args=None):
        pairs = ([example["text_pair"] for example in batch] if "text_pair" in batch[0]
                 else None)
        outputs = model.predict([example["text"] for example in batch], pairs)
        rows = answers_class_of(self.kind)(self.config).prediction_rows(outputs, top_k=self.top_k)
        return [PredictionResult(example, row) for example, row in zip(batch, rows)]

    def share_model_across_processes(self):
        return False


class ReadRows(beam.DoFn):
    """A file's rows as examples with their file and line, read as `tfbert predict` reads
    them (a bad row: an error naming them, or under on_error="skip" a reject)."""

    def __init__(self, kind, recipe, on_error):
        self.kind, self.recipe, self.on_error = kind, recipe, on_error

    def process(self, path):
        from apache_beam.io.filesystems import FileSystems

        for examples, rejects, _ in input_windows(self.kind, path, self.recipe, 4096,
                                                  self.on_error, open_binary=FileSystems.open):
            for rejected in rejects:
                yield beam.pvalue.TaggedOutput("rejects", json.dumps(
                    {"source": rejected.source, "line": rejected.line, "reason": rejected.reason},
                    ensure_ascii=False))
            for i, text in enumerate(examples.texts):
                example = {"source": examples.source, "line": examples.line_numbers[i], "text": text}
                if examples.text_pairs is not None:
                    example["text_pair"] = examples.text_pairs[i]
                yield example


def matched_files(patterns):
    """The files that `patterns` (paths or globs) name, through Beam's file systems
    (gs:// with apache-beam[gcp], hdfs:// with its options); none is an error."""
    from apache_beam.io.filesystems import FileSystems

    paths = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        found = sorted(m.path for result in FileSystems.match([str(pattern)])
                       for m in result.metadata_list)
        if not found:
            raise FileNotFoundError(f"{pattern}: no such file (nor files matching it).")
        paths += found
    return paths


def as_line(result):
    return json.dumps({**result.example, **result.inference}, ensure_ascii=False)


def _output_parts(output):
    """(prefix, suffix) of Beam's sharded names: preds.jsonl.gz -> preds-00000-of-00004.jsonl.gz."""
    for suffix in (".jsonl.gz", ".jsonl", ".json.gz", ".json"):
        if output.endswith(suffix):
            return output[:-len(suffix)], suffix
    return output, ".jsonl"


def build_pipeline(pipeline, inputs, output, export_dir, kind, config, recipe, top_k=None,
                   batch_size=64, on_error="error"):
    """Adds the prediction steps to `pipeline` (a beam.Pipeline); returns the write's
    result. The files are matched here, when the pipeline is built."""
    paths = matched_files(inputs)
    prefix, suffix = _output_parts(str(output))
    read = (pipeline
            | "Files" >> beam.Create(paths)
            | "Read rows" >> beam.ParDo(ReadRows(kind, recipe, on_error)).with_outputs(
                "rejects", main="examples"))
    handler = ExportedModelHandler(export_dir, kind, config, top_k, batch_size)
    written = (read.examples
               | "Spread" >> beam.Reshuffle()
               | "Predict" >> RunInference(handler)
               | "Rows" >> beam.Map(as_line)
               | "Write" >> beam.io.WriteToText(prefix, file_name_suffix=suffix))
    (read.rejects
     | "Write rejects" >> beam.io.WriteToText(prefix + ".rejects", file_name_suffix=".jsonl"))
    return written


def run_pipeline(run, inputs, output, runner, export_dir=None, top_k=None, batch_size=64,
                 on_error="error", data_overrides=(), beam_args=()):
    """Runs the pipeline for a run directory (its export, or `export_dir`: on a bucket for
    a remote runner) or for an export on this machine (read as `tfbert predict` reads
    one: text columns), and waits for it; `beam_args` are Beam's own options
    (--project, --region, --temp_location, --flink_master, ...)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from tfbert.run_directory import RunDirectory
    from tfbert.serving.exports import export_version, task_description

    export = export_version(run)
    if export is not None:
        kind, config = task_description(export)
        recipe = export_recipe(kind, config, data_overrides)
        export_dir = export_dir or export
    else:
        run = RunDirectory(run)
        recipe = run.recipe(data_overrides)
        kind, config = run.task_description()
        export_dir = export_dir or latest_export(recipe)
    answers = answers_class_of(kind)(config)
    top_k = answers.default_top_k() if top_k is None else top_k
    options = PipelineOptions(["--runner", runner, *beam_args])
    with beam.Pipeline(options=options) as pipeline:
        build_pipeline(pipeline, inputs, output, export_dir, kind, config, recipe, top_k,
                       batch_size, on_error)


def latest_export(recipe):
    """The newest version of the run's export (`tfbert export` or the end of a run)."""
    import pathlib

    folder = pathlib.Path(recipe.export.dir) / (recipe.export.name or recipe.name)
    versions = sorted((int(p.name) for p in folder.glob("*") if p.name.isdigit()), reverse=True)
    if not versions:
        raise FileNotFoundError(f"{folder}: no exported version; run `tfbert export` first, "
                                "or pass --export DIR (a bucket, for a remote runner).")
    return folder / str(versions[0])
