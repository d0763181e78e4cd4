"""The fine-tuning optimizer: AdamW as BERT used it."""

import keras

from tfbert.training.schedule import LinearWarmupLinearDecay


def make_optimizer(learning_rate, total_steps, warmup_ratio=0.1, weight_decay=0.01,
                   clip_norm=1.0, epsilon=1e-6):
    """AdamW with linear warm-up/decay and global gradient-norm clipping.

    Which weights decay is decided when a task compiles with it (`Task.compile`):
    every weight but the 1-D ones (biases, LayerNorm, the attention-pooling query).
    """
    schedule = LinearWarmupLinearDecay(
        learning_rate, total_steps, warmup_steps=int(round(warmup_ratio * total_steps))
    )
    return keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        epsilon=epsilon,
        global_clipnorm=clip_norm if clip_norm else None,
    )
