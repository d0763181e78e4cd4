"""BERT's pretraining heads: masked-LM and next-sentence prediction.

    masked LM:      h [N, H] -> dense H->H -> hidden_act -> LayerNorm -> x [N, H]
                    logits [N, V] = x @ word_embeddings^T + bias   (decoder tied to the
                    input embeddings, as in google-research/bert and Hugging Face)
    next sentence:  pooled [B, H] -> dense H->2 -> logits [B, 2]   (0: B follows A)

The decoder matrix is not a weight of the head: the caller passes the encoder's word
embedding table, so the two stay one variable (and a vocabulary that grows grows both).

Checkpoint names (Hugging Face / Google), read and written by `head_weight_names`:
    cls.predictions.transform.dense.{weight,bias}      cls/predictions/transform/dense/{kernel,bias}
    cls.predictions.transform.LayerNorm.{weight,bias}  cls/predictions/transform/LayerNorm/{gamma,beta}
    cls.predictions.bias                               cls/predictions/output_bias
    cls.seq_relationship.{weight,bias}                 cls/seq_relationship/output_{weights,bias}
"""

import keras
from keras import ops

from tfbert.layers.layer_norm import BertLayerNorm
from tfbert.layers.transformer_block import feed_forward_activation


@keras.saving.register_keras_serializable(package="tfbert")
class MaskedLMHead(keras.layers.Layer):
    """Token vectors [..., H] and the word embeddings [V, H] -> logits [..., V]."""

    def __init__(self, vocab_size, hidden_size, hidden_act="gelu", layer_norm_epsilon=1e-12,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)
        self.hidden_size = int(hidden_size)
        self.hidden_act = hidden_act
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)
        self.transform = keras.layers.Dense(
            self.hidden_size,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range),
            dtype=self.dtype_policy, name="transform")
        self.layer_norm = BertLayerNorm(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm")

    def build(self, input_shape):
        self.transform.build(input_shape)
        self.layer_norm.build(tuple(input_shape[:-1]) + (self.hidden_size,))
        # Not autocast: under mixed precision the logits are float32 (a softmax over the
        # whole vocabulary), and the bias is added to them at full precision.
        self.bias = self.add_weight(name="bias", shape=(self.vocab_size,), initializer="zeros",
                                    autocast=False)

    def call(self, hidden, word_embeddings, training=None):
        activation = feed_forward_activation(self.hidden_act, training)
        x = self.layer_norm(activation(self.transform(hidden)), training=training)  # [..., H]
        logits = ops.matmul(x, ops.transpose(ops.cast(word_embeddings, x.dtype)))  # [..., V]
        return ops.cast(logits, "float32") + self.bias

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "hidden_size": self.hidden_size, "hidden_act": self.hidden_act,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range}


@keras.saving.register_keras_serializable(package="tfbert")
class NextSentenceHead(keras.layers.Dense):
    """pooled_output [B, H] -> logits [B, 2]: index 0 "B is the next segment", 1 "random"."""

    def __init__(self, initializer_range=0.02, **kwargs):
        kwargs.setdefault("kernel_initializer",
                          keras.initializers.TruncatedNormal(stddev=initializer_range))
        kwargs.pop("units", None)
        super().__init__(2, **kwargs)


def head_weight_names(masked_lm=None, next_sentence=None):
    """(variable, Hugging Face name) of each weight of the heads given, name by name as
    `tfbert.models.checkpoint.read_checkpoint` gives them (kernels [in, out])."""
    pairs = []
    if masked_lm is not None:
        prefix = "cls.predictions."
        pairs += [(masked_lm.transform.kernel, prefix + "transform.dense.weight"),
                  (masked_lm.transform.bias, prefix + "transform.dense.bias"),
                  (masked_lm.layer_norm.gamma, prefix + "transform.LayerNorm.weight"),
                  (masked_lm.layer_norm.beta, prefix + "transform.LayerNorm.bias"),
                  (masked_lm.bias, prefix + "bias")]
    if next_sentence is not None:
        pairs += [(next_sentence.kernel, "cls.seq_relationship.weight"),
                  (next_sentence.bias, "cls.seq_relationship.bias")]
    return pairs


# Google checkpoints, once `read_checkpoint` has renamed them, differ in three names;
# their next-sentence `output_weights` is stored [2, H].
_GOOGLE_NAMES = {"cls.predictions.bias": ("cls.predictions.output_bias", False),
                 "cls.seq_relationship.weight": ("cls.seq_relationship.output_weights", True),
                 "cls.seq_relationship.bias": ("cls.seq_relationship.output_bias", False)}


def load_head_weights(checkpoint, masked_lm=None, next_sentence=None):
    """Assigns the heads' weights from a `tfbert.models.checkpoint.Checkpoint` where it has
    them. A head the checkpoint has no weights of starts fresh (MiniLM ships none); a
    head with some of its weights, or weights of the wrong shape, is an error naming
    them, and nothing is assigned. Returns the names of the heads loaded."""
    loaded, errors, values = [], [], []
    heads = (("masked LM", head_weight_names(masked_lm=masked_lm)),
             ("next sentence", head_weight_names(next_sentence=next_sentence)))
    for label, pairs in heads:
        found = []
        for variable, name in pairs:
            stored, transposed = name, False
            if name not in checkpoint.weights and name in _GOOGLE_NAMES:
                stored, transposed = _GOOGLE_NAMES[name]
            if stored not in checkpoint.weights:
                continue
            value = checkpoint.weights[stored].T if transposed else checkpoint.weights[stored]
            if tuple(value.shape) != tuple(variable.shape):
                errors.append(f"{checkpoint.original_names[stored]}: checkpoint "
                              f"{tuple(value.shape)}, model expects {tuple(variable.shape)}")
            found.append((variable, name, value))
        if found and len(found) < len(pairs):
            errors.append(f"the {label} head is incomplete: it has only "
                          f"{', '.join(name for _, name, _ in found)}")
        if found:
            loaded.append(label)
            values += [(variable, value) for variable, _, value in found]
    if errors:
        raise ValueError(f"{checkpoint.path}: the pretraining heads do not fit:\n  "
                         + "\n  ".join(errors) + "\nNothing was loaded.")
    for variable, value in values:
        variable.assign(value.astype(variable.dtype))
    return loaded


def head_state(masked_lm=None, next_sentence=None):
    """{Hugging Face name: float32 numpy} of the heads, 2-D weights as PyTorch's
    [out, in]: what `tfbert.models.checkpoint_writer.save_hugging_face` takes."""
    import numpy as np

    state = {}
    for variable, name in head_weight_names(masked_lm, next_sentence):
        value = np.asarray(variable.numpy(), np.float32)
        state[name] = np.ascontiguousarray(value.T if value.ndim == 2 else value)
    return state
