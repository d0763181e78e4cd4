"""The fine-tuning optimizer: AdamW as BERT used it."""

import keras

from tfbert.training.schedule import LinearWarmupLinearDecay

# Substrings of variable paths that get no weight decay: biases and LayerNorm
# scales/offsets. Decaying them pulls normalisation toward zero and buys nothing.
NO_DECAY = ["bias", "gamma", "beta", "layer_norm"]


def make_optimizer(learning_rate, total_steps, warmup_ratio=0.1, weight_decay=0.01,
                   clip_norm=1.0, epsilon=1e-6):
    """AdamW with linear warm-up/decay, global gradient-norm clipping, and no decay
    on LayerNorm and bias weights."""
    schedule = LinearWarmupLinearDecay(
        learning_rate, total_steps, warmup_steps=int(round(warmup_ratio * total_steps))
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        epsilon=epsilon,
        global_clipnorm=clip_norm if clip_norm else None,
    )
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    return optimizer
