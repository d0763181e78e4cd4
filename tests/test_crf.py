"""The CRF layer and its loss: checked against brute force over every tag sequence."""

import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.layers.crf import CRF, FORBIDDEN, CRFLoss

# IOB2 with one entity type: O, B-X, I-X. I-X may only follow B-X or I-X.
IOB_TRANSITIONS = [[True, True, False], [True, True, True], [True, True, True]]
IOB_START = [True, True, False]


def random_crf(num_tags, seed, multiplier=1.0, **kwargs):
    """A CRF with random effective weights, set through its variables (v = w / m)."""
    rng = np.random.default_rng(seed)
    crf = CRF(num_tags, learning_rate_multiplier=multiplier, **kwargs)
    for variable in crf.weights:
        variable.assign(rng.normal(size=variable.shape).astype(np.float32) / multiplier)
    return crf


def sequence_score(crf, potentials, tags):
    """score(tags) in float64 for one row; potentials [n, C], tags a tuple of n ids."""
    trans, start, end = (np.asarray(w, np.float64) for w in crf._scores())
    if not tags:
        return 0.0
    score = start[tags[0]] + end[tags[-1]] + sum(potentials[t, y] for t, y in enumerate(tags))
    return score + sum(trans[a, b] for a, b in zip(tags[:-1], tags[1:]))


def brute_force(crf, potentials, length, allowed=lambda tags: True):
    """(log Z, best tags, best score) over every (allowed) tag sequence of `length`."""
    sequences = [s for s in itertools.product(range(crf.num_tags), repeat=length) if allowed(s)]
    scores = np.array([sequence_score(crf, potentials, s) for s in sequences])
    best = int(np.argmax(scores))
    return np.logaddexp.reduce(scores), sequences[best], scores[best]


def padded_batch(num_tags, seed, steps=4, lengths=(0, 4, 2, 1, 3, 4)):
    """Potentials with garbage beyond each length, gold tags with -1 there."""
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths, np.int32)
    potentials = rng.normal(size=(len(lengths), steps, num_tags)).astype(np.float32)
    tags = rng.integers(0, num_tags, size=(len(lengths), steps)).astype(np.int32)
    padding = np.arange(steps)[None, :] >= lengths[:, None]
    potentials[padding] = rng.normal(scale=100.0, size=(padding.sum(), num_tags))
    tags[padding] = -1
    return potentials, tags, lengths


@pytest.mark.parametrize("num_tags, seed, multiplier", [(3, 0, 1.0), (4, 1, 1.0), (3, 2, 7.0),
                                                       (4, 3, 0.5)])
def test_matches_brute_force_on_padded_batches(num_tags, seed, multiplier):
    crf = random_crf(num_tags, seed, multiplier)
    potentials, tags, lengths = padded_batch(num_tags, seed)
    log_likelihood = crf.log_likelihood(potentials, tags, lengths).numpy()
    decoded, scores = (x.numpy() for x in crf.decode(potentials, lengths))
    assert decoded.dtype == np.int32 and scores.dtype == log_likelihood.dtype == np.float32
    for row, n in enumerate(lengths):
        log_z, best, best_score = brute_force(crf, potentials[row], n)
        gold = sequence_score(crf, potentials[row], tuple(tags[row, :n]))
        np.testing.assert_allclose(log_likelihood[row], gold - log_z, atol=1e-4)
        assert tuple(decoded[row, :n]) == best and not decoded[row, n:].any()
        np.testing.assert_allclose(scores[row], best_score, atol=1e-4)
    assert log_likelihood[lengths == 0] == 0 and scores[lengths == 0] == 0


def test_padding_changes_nothing():
    crf = random_crf(4, 5)
    potentials, tags, lengths = padded_batch(4, 5)
    other_potentials, other_tags, _ = padded_batch(4, 6)
    padding = np.arange(4)[None, :] >= lengths[:, None]
    other_potentials[~padding], other_tags[~padding] = potentials[~padding], tags[~padding]
    other_tags[padding] = 2                     # any value, not just -1
    other_potentials[0, 0, 0] = np.nan          # even nan, where it is padding
    # Two more padded steps, full of garbage.
    other_potentials = np.concatenate([other_potentials, np.full((6, 2, 4), 1e4, np.float32)], 1)
    other_tags = np.concatenate([other_tags, np.full((6, 2), -1, np.int32)], 1)
    np.testing.assert_array_equal(crf.log_likelihood(potentials, tags, lengths),
                                  crf.log_likelihood(other_potentials, other_tags, lengths))
    tags_a, scores_a = crf.decode(potentials, lengths)
    tags_b, scores_b = crf.decode(other_potentials, lengths)
    np.testing.assert_array_equal(tags_a, tags_b[:, :4])
    np.testing.assert_array_equal(scores_a, scores_b)
    assert not np.asarray(tags_b[:, 4:]).any()


def iob_allowed(tags):
    """No I-X first, none after O."""
    return not tags or tags[0] != 2 and (0, 2) not in zip(tags[:-1], tags[1:])


def test_constraints_are_never_decoded_and_match_brute_force():
    crf = random_crf(3, 7, allowed_transitions=IOB_TRANSITIONS, allowed_start=IOB_START)
    potentials, tags, lengths = padded_batch(3, 7, lengths=(4, 4, 3, 0, 1, 2))
    potentials[..., 2] += 50.0           # everything pushes for I-X, O before it too
    potentials[:, ::2, 0] += 100.0
    decoded, scores = crf.decode(potentials, lengths)
    for row, n in enumerate(lengths):
        path = tuple(np.asarray(decoded)[row, :n])
        assert n == 0 or iob_allowed(path), path
        log_z, best, best_score = brute_force(crf, potentials[row], n, iob_allowed)
        assert path == best
        np.testing.assert_allclose(scores[row], best_score, rtol=1e-5)
        # An allowed gold sequence: its likelihood among the allowed sequences.
        gold = best if n == 0 else tuple([1] + [2] * (n - 1))
        log_likelihood = crf.log_likelihood(potentials[row:row + 1], [list(gold) + [-1] * (4 - n)],
                                            [n])
        np.testing.assert_allclose(log_likelihood[0],
                                   sequence_score(crf, potentials[row], gold) - log_z, atol=1e-3)
    # A gold sequence that breaks a constraint is penalised by FORBIDDEN.
    assert crf.log_likelihood(potentials[:1], [[0, 2, 2, 2]], [4])[0] < FORBIDDEN / 2


def test_forbidden_end_is_never_decoded():
    crf = random_crf(3, 8, allowed_end=[True, False, True])
    potentials, _, lengths = padded_batch(3, 8)
    potentials[..., 1] += 30.0
    decoded, _ = crf.decode(potentials, lengths)
    for row, n in enumerate(lengths):
        assert n == 0 or decoded[row, n - 1] != 1


@pytest.mark.parametrize("arguments, message", [
    (dict(num_tags=0), "num_tags"),
    (dict(num_tags=3, allowed_transitions=[[True] * 3] * 2), "allowed_transitions"),
    (dict(num_tags=3, allowed_transitions=[[True] * 3, [True] * 2, [True] * 3]), "shape"),
    (dict(num_tags=3, allowed_start=[True, "x", True]), "allowed_start"),
    (dict(num_tags=3, allowed_end=[False] * 3), "forbids everything"),
    (dict(num_tags=3, learning_rate_multiplier=0.0), "learning_rate_multiplier"),
])
def test_bad_arguments_raise_clear_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        CRF(**arguments)


def test_potentials_with_the_wrong_number_of_tags_raise():
    with pytest.raises(ValueError, match="potentials have 5 tags, not 3"):
        CRF(3).decode(np.zeros((2, 4, 5), np.float32), [4, 4])


def test_learning_rate_multiplier_scales_adam_steps():
    potentials, tags, lengths = padded_batch(4, 9)
    moves = {}
    for multiplier in (1.0, 10.0):
        crf = random_crf(4, 9, multiplier)
        np.testing.assert_allclose(crf.transitions, multiplier * crf.transitions_variable.numpy())
        np.testing.assert_allclose(crf.end_transitions, multiplier * crf.end_variable.numpy())
        before = crf.transitions.numpy()
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_sum(crf.log_likelihood(potentials, tags, lengths))
        gradients = tape.gradient(loss, crf.trainable_variables)
        optimizer.apply_gradients(zip(gradients, crf.trainable_variables))
        moved = np.abs(crf.transitions.numpy() - before)
        active = np.abs(gradients[0].numpy()) > 1e-3
        assert active.sum() >= 8
        np.testing.assert_allclose(moved[active], multiplier * 1e-3, rtol=1e-2)
        moves[multiplier] = moved[active]
    np.testing.assert_allclose(moves[10.0], 10 * moves[1.0], rtol=2e-2)


@pytest.mark.parametrize("policy, dtype", [("mixed_float16", "float16"),
                                           ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision(policy, dtype):
    potentials, tags, lengths = padded_batch(4, 10)
    reference = random_crf(4, 10)
    expected_ll = reference.log_likelihood(potentials, tags, lengths)
    expected_tags, expected_scores = reference.decode(potentials, lengths)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        for crf in (random_crf(4, 10), random_crf(4, 10, dtype=policy)):
            assert all(w.dtype == "float32" for w in crf.weights)
            low = tf.cast(potentials, dtype)
            ll = crf.log_likelihood(low, tags, lengths)
            tags_low, scores_low = crf.decode(low, lengths)
            assert ll.dtype == scores_low.dtype == tf.float32
            np.testing.assert_allclose(ll, expected_ll, atol=0.1, rtol=0.02)
            np.testing.assert_allclose(scores_low, expected_scores, atol=0.1, rtol=0.02)
            # Through __call__ (Keras' autocast scope) too.
            np.testing.assert_array_equal(crf(low, lengths), tags_low)
        assert random_crf(4, 10).dtype_policy.name == "float32"
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def test_tf_function_with_unknown_and_empty_shapes():
    crf = random_crf(3, 11)
    spec = [tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None], tf.int32)]
    log_likelihood = tf.function(crf.log_likelihood, input_signature=spec)
    decode = tf.function(crf.decode, input_signature=[spec[0], spec[2]])
    potentials, tags, lengths = padded_batch(3, 11)
    np.testing.assert_allclose(log_likelihood(potentials, tags, lengths),
                               crf.log_likelihood(potentials, tags, lengths), atol=1e-6)
    np.testing.assert_array_equal(decode(potentials, lengths)[0],
                                  crf.decode(potentials, lengths)[0])
    for batch, steps in [(3, 0), (0, 0), (0, 4), (2, 1)]:
        potentials = np.ones((batch, steps, 3), np.float32)
        tags, lengths = np.zeros((batch, steps), np.int32), np.full(batch, steps, np.int32)
        assert log_likelihood(potentials, tags, lengths).shape == (batch,)
        decoded, scores = decode(potentials, lengths)
        assert decoded.shape == (batch, steps) and scores.shape == (batch,)
    np.testing.assert_array_equal(decode(np.ones((3, 0, 3), np.float32), [0, 0, 0])[1], 0)


def test_runs_under_xla():
    crf = random_crf(3, 15)
    potentials, tags, lengths = padded_batch(3, 15)

    def step(potentials, tags, lengths):
        with tf.GradientTape() as tape:
            log_likelihood = crf.log_likelihood(potentials, tags, lengths)
        return log_likelihood, tape.gradient(log_likelihood, crf.trainable_variables), \
            crf.decode(potentials, lengths)

    for compiled, eager in zip(tf.nest.flatten(tf.function(step, jit_compile=True)(
            potentials, tags, lengths)), tf.nest.flatten(step(potentials, tags, lengths))):
        np.testing.assert_allclose(compiled, eager, atol=1e-5)


def test_config_round_trip():
    crf = CRF(3, allowed_transitions=np.array(IOB_TRANSITIONS), allowed_start=IOB_START,
              learning_rate_multiplier=5.0, name="tagger_crf")
    config = crf.get_config()
    assert config["allowed_transitions"] == IOB_TRANSITIONS and config["allowed_end"] is None
    assert (config["num_tags"], config["learning_rate_multiplier"]) == (3, 5.0)
    json.dumps(config)                                       # plain values only
    assert CRF.from_config(config).get_config() == config
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(crf))
    assert type(clone) is CRF and clone.get_config() == config


def test_keras_model_saves_and_reloads(tmp_path):
    potentials_in = keras.Input(shape=(None, 4), name="potentials")
    lengths_in = keras.Input(shape=(), dtype="int32", name="lengths")
    crf = random_crf(4, 12, 3.0, allowed_start=[True, True, False, True])
    model = keras.Model([potentials_in, lengths_in], crf(potentials_in, lengths_in))
    potentials, _, lengths = padded_batch(4, 12)
    expected = model.predict([potentials, lengths], verbose=0)
    np.testing.assert_array_equal(expected, crf.decode(potentials, lengths)[0])
    model.save(tmp_path / "crf.keras")
    loaded = keras.models.load_model(tmp_path / "crf.keras")
    np.testing.assert_array_equal(loaded.predict([potentials, lengths], verbose=0), expected)
    loaded_crf = loaded.layers[-1]
    assert loaded_crf.get_config() == crf.get_config()
    np.testing.assert_allclose(loaded_crf.transitions, crf.transitions)


def test_saved_model_of_decode_runs_after_loading(tmp_path):
    crf = random_crf(4, 13, allowed_transitions=[[True, False, True, True]] * 4)  # never 1 after
    module = tf.Module()
    module.crf = crf
    # As tfbert's ServingModule does: track the tf.Variables inside Keras' variables, or a
    # server loading the graph the TF1 way (as TF Serving does) finds them uninitialised.
    module.variable_values = [variable.value for variable in crf.variables]
    module.decode = tf.function(
        lambda potentials, lengths: dict(zip(("tags", "scores"), crf.decode(potentials, lengths))),
        input_signature=[tf.TensorSpec([None, None, 4]), tf.TensorSpec([None], tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "model"),
                        signatures=module.decode.get_concrete_function())
    loaded = tf.saved_model.load(str(tmp_path / "model"))
    potentials, _, lengths = padded_batch(4, 13)
    expected_tags, expected_scores = crf.decode(potentials, lengths)
    for outputs in (loaded.decode(potentials, lengths),
                    loaded.signatures["serving_default"](potentials=tf.constant(potentials),
                                                         lengths=tf.constant(lengths))):
        np.testing.assert_array_equal(outputs["tags"], expected_tags)
        np.testing.assert_allclose(outputs["scores"], expected_scores, atol=1e-6)
    assert (np.asarray(expected_tags)[:, 1:] != 1).all()
    assert loaded.signatures["serving_default"](
        potentials=tf.zeros([2, 0, 4]), lengths=tf.zeros([2], tf.int32))["tags"].shape == (2, 0)


def test_loss_is_nll_per_word_and_trains_the_transitions(tmp_path):
    crf = random_crf(4, 14)
    potentials, tags, lengths = padded_batch(4, 14)
    loss = CRFLoss(crf)
    expected = -np.sum(crf.log_likelihood(potentials, tags, lengths)) / lengths.sum()
    with tf.GradientTape() as tape:
        value = loss(tags, potentials)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    gradient = tape.gradient(value, crf.transitions_variable)
    assert gradient is not None and np.abs(gradient).max() > 1e-3
    np.testing.assert_allclose(loss.call(tf.constant(tags), potentials).numpy().sum(), expected,
                               rtol=1e-5)
    # Through compile/evaluate: the reported loss is total NLL / total words.
    model = keras.Sequential([keras.Input((None, 4)), keras.layers.Identity()])
    model.compile(loss=loss)
    np.testing.assert_allclose(model.evaluate(potentials, tags, batch_size=6, verbose=0),
                               expected, rtol=1e-5)
    assert float(loss(np.full((2, 3), -1), np.zeros((2, 3, 4), np.float32))) == 0.0
    with pytest.raises(NotImplementedError, match="compile the model again"):
        loss.get_config()
    with pytest.raises(NotImplementedError, match="CRFLoss"):   # at once, not at loading
        model.save(tmp_path / "compiled.keras")
