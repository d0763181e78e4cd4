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


def test_every_weight_decays_but_the_one_dimensional_ones():
    """One step of the fine-tuning optimizer with zero gradients: Adam's update is
    then zero, so exactly the weights that decay move. They are every weight of
    two or more dimensions; biases, LayerNorm and the attention-pooling query stay."""
    import keras

    from tfbert.tasks import TextClassifier
    from tiny_models import tiny

    model = TextClassifier(*tiny(), ["neg", "pos"], head="attention")
    model.compile(optimizer=make_optimizer(1e-2, total_steps=10, warmup_ratio=0.0,
                                           weight_decay=0.1))
    before = {v.path: np.array(v) for v in model.trainable_variables}
    model.optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    decayed = sorted(v.path for v in model.trainable_variables
                     if not np.array_equal(np.array(v), before[v.path]))
    expected = sorted(v.path for v in model.trainable_variables if len(v.shape) >= 2)
    assert decayed == expected
    # 3 embeddings, 4 kernels in each of 2 blocks, the head (the pooler is not trained
    # under an attention head).
    assert len(expected) == 12
    kept = {v.path for v in model.trainable_variables} - set(decayed)
    assert any(path.endswith("head/query") for path in kept)
    assert "embeddings/layer_norm/gamma" in kept
    assert "transformer_block_0/intermediate_dense/bias" in kept
    # A decayed weight shrank by lr * weight_decay, as AdamW defines it.
    kernel = next(v for v in model.trainable_variables if v.path == decayed[0])
    np.testing.assert_allclose(np.array(kernel), before[decayed[0]] * (1 - 1e-2 * 0.1), rtol=1e-6)
    assert model.optimizer.global_clipnorm == 1.0


@pytest.mark.parametrize("head_learning_rate", [0.0, 1e-2])
def test_head_learning_rate(head_learning_rate):
    """Adam's first step moves each weight by about its learning rate (m / sqrt(v) is
    the gradient's sign): the head's weights by head_learning_rate, the encoder's by
    learning_rate."""
    import keras

    from tfbert.tasks import TextClassifier
    from tfbert.training.optimizer import AdamWWithHeadRate
    from tiny_models import spread, tiny

    model = spread(TextClassifier(*tiny(), ["neg", "pos"], head="mean"))
    model.compile(optimizer=make_optimizer(1e-3, total_steps=10, warmup_ratio=0.0, weight_decay=0.0,
                                           clip_norm=0.0, head_learning_rate=head_learning_rate))
    head = {id(v) for v in model.head_variables}
    assert sorted(v.path.split("/", 1)[1] for v in model.head_variables) == [
        "head/output_dense/bias", "head/output_dense/kernel"]
    before = {v.path: np.array(v) for v in model.trainable_variables}
    rng = np.random.default_rng(0)
    model.optimizer.apply_gradients(
        [(keras.ops.convert_to_tensor(rng.normal(size=v.shape).astype("float32")), v)
         for v in model.trainable_variables])
    for v in model.trainable_variables:
        step = np.abs(np.array(v) - before[v.path]).max()
        expected = (head_learning_rate or 1e-3) if id(v) in head else 1e-3
        assert step == pytest.approx(expected, rel=1e-3), v.path
    config = model.optimizer.get_config()
    assert AdamWWithHeadRate.from_config(config).head_rate_multiplier == (10.0 if head_learning_rate else 1.0)
    with pytest.raises(ValueError, match="head_rate_multiplier must be > 0"):
        AdamWWithHeadRate(head_rate_multiplier=0.0)


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


@pytest.mark.parametrize("count, batch_size, window_batches", [(1, 32, 64), (100, 32, 64),
                                                               (1000, 32, 8), (257, 16, 2)])
def test_an_epoch_has_as_many_batches_as_its_examples_fill(count, batch_size, window_batches):
    """Steps per epoch are counted without planning: windows hold whole batches, so
    a shuffled plan has ceil(count / batch_size) batches, like a sorted one."""
    lengths = np.random.default_rng(0).integers(3, 60, size=count)
    for shuffle in (True, False):
        plan = plan_batches(lengths, batch_size, shuffle=shuffle, window_batches=window_batches)
        assert len(plan) == -(-count // batch_size)


@pytest.mark.parametrize("recipe_name, multiplier", [("sentiment", 10.0), ("pair_similarity", 10.0),
                                                     ("ner", 1.0), ("slots", 10.0)])
def test_head_learning_rate_auto_is_the_task_kinds(tmp_path, recipe_name, multiplier):
    """The default, "auto": a pooled classifier's or regressor's head, and the joint
    intent + slots heads, at 1e-3 against the encoder's 1e-4 (x10); a tagger's at the
    encoder's rate. A number given wins."""
    from conftest import ROOT, write_tiny_checkpoint
    from tfbert.recipe import load_recipe
    from tfbert.train import prepare_training, read_split

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", ["good", "bad", "film"])
    for settings, expected in (([], multiplier), (["training.head_learning_rate=5e-4"], 5.0)):
        recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.toml",
                             [f"checkpoint={checkpoint}", "data.max_train_examples=8", *settings])
        task, _ = prepare_training(recipe, read_split(recipe, recipe.data.train).select(range(8)))
        assert task.optimizer.head_rate_multiplier == pytest.approx(expected)


def test_max_length_is_cut_to_the_checkpoints_positions(tmp_path, capsys):
    """The default max_length (256) on a checkpoint of 64 positions: the tokenizer cuts
    at 64 and says so, and a batch holding a text longer than that runs through the model
    instead of failing the embeddings' length check. A max_length under the positions is
    kept as given."""
    from conftest import ROOT, write_tiny_checkpoint
    from tfbert.recipe import load_recipe
    from tfbert.train import prepare_training, read_split

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", ["good", "bad", "film"])  # 64 positions
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "good film " * 60 + "\t1\nbad\t0\n")
    for settings, expected in (([], 64), (["training.max_length=48"], 48)):
        recipe = load_recipe(ROOT / "recipes" / "sentiment.toml",
                             [f"checkpoint={checkpoint}", f"data.train={train}", "data.dev=",
                              "training.batch_size=2", *settings])
        task, data = prepare_training(recipe, read_split(recipe, recipe.data.train))
        assert task.tokenizer.max_length == expected
        assert max(data.lengths) == expected  # the long text, cut
        printed = capsys.readouterr().out
        assert ("training.max_length = 256 is more than the checkpoint's 64 positions" in printed) == (not settings)
        batch = next(iter(data.dataset(task.tokenizer, data.plan(2, shuffle=False))))
        task(batch, training=False)  # 64 positions: within the embeddings' table


def test_chosen_rows_step_at_their_own_rate():
    """scale_rows: the named rows of a table move ~multiplier x lr in Adam's first step
    (its step is ~lr whatever the gradient), the other rows ~lr; bad rows are named."""
    import keras

    from tfbert.training.optimizer import AdamWWithHeadRate

    table = keras.Variable(np.zeros([6, 4], np.float32), name="table")
    other = keras.Variable(np.zeros([3], np.float32), name="other")
    optimizer = AdamWWithHeadRate(learning_rate=1e-3, weight_decay=0.0)
    optimizer.build([table, other])
    optimizer.scale_rows(table, [1, 4], 10.0)
    rng = np.random.default_rng(0)
    optimizer.apply_gradients([
        (keras.ops.convert_to_tensor(rng.normal(size=[6, 4]).astype("float32")), table),
        (keras.ops.convert_to_tensor(rng.normal(size=[3]).astype("float32")), other)])
    steps = np.abs(np.array(table)).max(axis=1)
    np.testing.assert_allclose(steps, [1e-3, 1e-2, 1e-3, 1e-3, 1e-2, 1e-3], rtol=1e-3)
    np.testing.assert_allclose(np.abs(np.array(other)), 1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match=r"rows must be in \[0, 6\)"):
        optimizer.scale_rows(table, [6], 10.0)
    with pytest.raises(ValueError, match="needs a 2-D variable"):
        optimizer.scale_rows(other, [0], 10.0)
    with pytest.raises(ValueError, match="multiplier must be > 0"):
        optimizer.scale_rows(table, [0], 0.0)


def test_fused_adam_step_equals_keras_adamw():
    """The fused step (one ResourceApplyAdam kernel per weight, the embedding gradient
    kept as summed rows through clipping) follows Keras' own AdamW on dense gradients over
    20 steps: weight decay, global-norm clipping (active: the gradient norm is above 1),
    a head multiplier and a lookup that repeats a row included; its weights move by far
    more than the difference."""
    import keras
    import tensorflow as tf

    from tfbert.training.optimizer import AdamWWithHeadRate

    rng = np.random.default_rng(0)
    start = {"table": rng.normal(size=[30, 8]).astype("float32"),
             "bias": rng.normal(size=[8]).astype("float32")}
    ids = tf.constant([[1, 4, 4, 7], [4, 2, 0, 0]])
    targets = tf.constant(rng.normal(size=[2, 4, 8]).astype("float32"))
    trained = {}
    for fused in (False, True):
        table = keras.Variable(start["table"], name="table")
        bias = keras.Variable(start["bias"], name="bias")
        optimizer = AdamWWithHeadRate(fused=fused, head_rate_multiplier=3.0, learning_rate=1e-2,
                                      weight_decay=0.01, global_clipnorm=1.0)
        optimizer.build([table, bias])
        optimizer.scale_learning_rate([bias])

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                outputs = tf.gather(table.value, ids) + bias.value   # [2, 4, 8]
                loss = tf.reduce_sum((outputs - targets) ** 2)
            gradients = tape.gradient(loss, [table.value, bias.value])
            assert isinstance(gradients[0], tf.IndexedSlices)
            optimizer.apply_gradients(zip(gradients, [table, bias]))

        for _ in range(20):
            step()
        trained[fused] = (np.array(table), np.array(bias))
    for keras_weight, fused_weight, name in zip(trained[False], trained[True], start):
        np.testing.assert_allclose(fused_weight, keras_weight, atol=1e-5)
        assert np.abs(fused_weight - start[name]).max() > 0.1
    assert AdamWWithHeadRate(fused=False).get_config()["fused"] is False
