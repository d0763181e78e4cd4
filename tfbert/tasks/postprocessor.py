"""`Postprocessor`: a task's model outputs -> its named outputs, answers and scores.

Its TensorFlow half is here and in each kind's module:

    postprocess        model outputs (float32) -> the named outputs, in TF ops: what
                       `serving_default` serves and `Task.predict` returns
    example_signature  TF Serving's Classify / Regress API, where the kind has one

and its pure-Python half, the kind's `Answers` (tasks/answers.py: assets, prediction
rows, scoring, the report's lines, the baseline plan), which it extends. A task
builds its postprocessor from its plain config (`Task.postprocessor`).
"""

from tfbert.tasks.answers import Answers


class Postprocessor(Answers):
    def postprocess(self, model_outputs, assets):
        """Model outputs (float32 tensors) -> dict of named output tensors.

        `assets` maps each file of `export_assets` to its lines, a tf.string tensor:
        in a SavedModel they are read from the shipped asset files.
        """
        raise NotImplementedError(f"{type(self).__name__} does not say what the model answers.")

    def example_signature(self):
        """TF Serving's tf.Example API for this task, or None: (signature name,
        method name, function of postprocess's outputs and assets -> the signature's
        outputs)."""
        return None
