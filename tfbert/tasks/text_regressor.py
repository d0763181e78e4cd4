"""Text regression: one text or a pair -> a score (sentence-pair similarity)."""

import keras
import numpy as np

from tfbert.tasks.text_task import TextTask


@keras.saving.register_keras_serializable(package="tfbert")
class TextRegressor(TextTask):
    """BERT + a head with one linear output, trained with mean squared error.

    STS-B style scores (0 to 5) are learned as they are; `predict` returns
    {"scores"}, clipped to [min_score, max_score] when those are given.
    """

    def __init__(self, encoder, tokenizer, head="cls", pair=True, min_score=None,
                 max_score=None, dropout=0.1, **kwargs):
        super().__init__(encoder, tokenizer, 1, head=head, pair=pair, dropout=dropout, **kwargs)
        self.min_score = min_score
        self.max_score = max_score

    def encode_targets(self, scores):
        try:
            return np.asarray([float(s) for s in scores], np.float32)[:, None]
        except (TypeError, ValueError) as error:
            raise ValueError(f"regression targets must be numbers: {error}") from None

    def compile(self, optimizer="adamw", loss="auto", metrics="auto", **kwargs):
        if loss == "auto":
            loss = keras.losses.MeanSquaredError()
        if metrics == "auto":
            metrics = [keras.metrics.MeanAbsoluteError(name="mae")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def predict(self, x, batch_size=32, **kwargs):
        if not self.is_raw_text(x):
            return super().predict(x, **kwargs)
        scores = self.predict_outputs(x, batch_size=batch_size, **kwargs)[:, 0]
        if self.min_score is not None or self.max_score is not None:
            scores = np.clip(scores, self.min_score, self.max_score)
        return {"scores": scores}

    def get_config(self):
        config = super().get_config()
        config.update(min_score=self.min_score, max_score=self.max_score)
        return config
