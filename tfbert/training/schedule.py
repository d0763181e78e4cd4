"""BERT's learning-rate schedule: linear warm-up, then linear decay to zero."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfbert")
class LinearWarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = peak * step / warmup_steps                 for step < warmup_steps
               = peak * (total - step) / (total - warmup)   after, never below 0.

    Warm-up keeps Adam's first, badly estimated moments from wrecking pretrained
    weights; the decay to zero is what BERT's fine-tuning results were reported with.
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}."
            )
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = ops.cast(self.peak_learning_rate, "float32")
        warmup = float(max(self.warmup_steps, 1))
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        warming = peak * step / warmup
        decaying = peak * ops.maximum(self.total_steps - step, 0.0) / decay_steps
        return ops.where(step < self.warmup_steps, warming, decaying)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }
