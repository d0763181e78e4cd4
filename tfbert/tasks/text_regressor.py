"""Text regression: one text or a pair -> a score (sentence-pair similarity).

Recipe: `task = "regression"`, with a [regression] table (RegressionSection).
Served outputs (`serving_default`, and in-process `predict`, from one `postprocess`):

    score   float32 [B]   clipped to [min_score, max_score]
"""

import math

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.labels import parse_scores
from tfbert.tasks.answers import RegressionAnswers
from tfbert.tasks.pooled_task import PooledTask
from tfbert.tasks.postprocessor import Postprocessor
from tfbert.tasks.preprocessor import Preprocessor
from tfbert.tasks.registry import register_task
from tfbert.tasks.sections import RegressionSection


class RegressionPreprocessor(Preprocessor):
    def encode_targets(self, examples, on_unknown="error"):
        """float32 [n, 1]; a label that is not a finite number names its file and line."""
        return parse_scores(examples)[:, None], np.arange(len(examples)), 0


class RegressionPostprocessor(Postprocessor, RegressionAnswers):
    def postprocess(self, outputs, assets):
        score = outputs[:, 0]                                                # [B]
        low, high = self.config["min_score"], self.config["max_score"]
        if low is not None or high is not None:
            score = tf.clip_by_value(score, -math.inf if low is None else float(low),
                                     math.inf if high is None else float(high))
        return {"score": score}

    def example_signature(self):
        return ("regress", tf.saved_model.REGRESS_METHOD_NAME,
                lambda outputs, assets: {"outputs": outputs["score"]})


@register_task("regression")
@keras.saving.register_keras_serializable(package="tfbert")
class TextRegressor(PooledTask):
    """BERT + a pooling head with one linear output, trained with mean squared error.

    STS-B style scores (0 to 5) are learned as they are; predictions are clipped to
    [min_score, max_score] when those are given.
    """

    recipe_section = RegressionSection
    default_eval_metric = recipe_section.default_eval_metric
    preprocessor_class = RegressionPreprocessor
    postprocessor_class = RegressionPostprocessor

    def __init__(self, encoder, tokenizer, head="cls", pair=True, min_score=None,
                 max_score=None, dropout=0.1, **kwargs):
        super().__init__(encoder, tokenizer, 1, head=head, pair=pair, dropout=dropout, **kwargs)
        self.min_score = min_score
        self.max_score = max_score

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        bound = lambda value: value if math.isfinite(value) else None
        return cls(head=section.head, min_score=bound(section.min_score),
                   max_score=bound(section.max_score), **section.long_text_options(), **common)

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def default_metrics(self):
        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def plain_config(self):
        return {**super().plain_config(), "min_score": self.min_score, "max_score": self.max_score}
