"""Schedule, optimizer and batch planning."""

import numpy as np
import pytest

from tfbert.data.pipeline import plan_batches
from tfbert.training.optimizer import make_optimizer
from tfbert.training.schedule import LinearWarmupLinearDecay


def test_warmup_then_linear_decay():
    schedule = LinearWarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    values = {step: float(schedule(step)) for step in (0, 5, 10, 55, 100, 120)}
    assert values[0] == 0.0
    assert values[5] == pytest.approx(5e-4)
    assert values[10] == pytest.approx(1e-3)
    assert values[55] == pytest.approx(5e-4)
    assert values[100] == 0.0 and values[120] == 0.0
    assert LinearWarmupLinearDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_schedule_rejects_bad_steps():
    with pytest.raises(ValueError, match="warmup_steps must be in"):
        LinearWarmupLinearDecay(1e-3, total_steps=10, warmup_steps=11)
    with pytest.raises(ValueError, match="total_steps must be positive"):
        LinearWarmupLinearDecay(1e-3, total_steps=0, warmup_steps=0)


def test_no_weight_decay_on_layer_norm_and_bias():
    from tfbert import BertEncoder

    encoder = BertEncoder(vocab_size=10, hidden_size=8, num_heads=2, num_layers=1, intermediate_size=8)
    optimizer = make_optimizer(1e-3, total_steps=10)
    optimizer.build(encoder.trainable_variables)
    decayed = {v.path for v in encoder.trainable_variables if optimizer._use_weight_decay(v)}
    assert "transformer_block_0/intermediate_dense/kernel" in decayed
    assert "embeddings/token_embedding/embeddings" in decayed
    for path in ("transformer_block_0/intermediate_dense/bias", "embeddings/layer_norm/gamma",
                 "transformer_block_0/output_layer_norm/beta"):
        assert path not in decayed
    assert optimizer.global_clipnorm == 1.0


def test_plan_covers_every_example_once_and_groups_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 120, size=1000)
    batches = plan_batches(lengths, batch_size=32, shuffle=True, seed=1, window_batches=8)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    # Sorting within windows cuts padding: compare padded tokens with a random plan.
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_order = rng.permutation(1000)
    random_padded = sum(32 * lengths[random_order[i:i + 32]].max() for i in range(0, 1000, 32))
    assert padded < 0.7 * random_padded


def test_plan_is_a_function_of_seed_and_epoch():
    lengths = np.arange(200) % 17
    a = plan_batches(lengths, 16, shuffle=True, seed=3, epoch=2)
    b = plan_batches(lengths, 16, shuffle=True, seed=3, epoch=2)
    c = plan_batches(lengths, 16, shuffle=True, seed=3, epoch=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_evaluation_plan_sorted_by_length():
    lengths = np.array([5, 1, 9, 3])
    assert [b.tolist() for b in plan_batches(lengths, 2, shuffle=False)] == [[1, 3], [0, 2]]
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        plan_batches(lengths, 0, shuffle=False)
