"""`BertEncoder`: the whole BERT encoder as one functional `keras.Model`.

    input_ids, segment_ids, input_mask      int32 [batch, seq]
      -> embeddings                         [batch, seq, hidden]
      -> num_layers x TransformerBlock      [batch, seq, hidden]   = sequence_output
      -> tanh dense on the [CLS] position   [batch, hidden]        = pooled_output

`seq` is dynamic: each batch is padded only to its own longest example.
"""

import keras

from tfbert.models.checkpoint import assign_checkpoint_weights, read_checkpoint
from tfbert.models.config import BertConfig
from tfbert.layers.attention import attention_mask_bias
from tfbert.layers.embeddings import BertEmbeddings
from tfbert.layers.initializers import truncated_normal, weights_from_checkpoint
from tfbert.layers.transformer_block import TransformerBlock
from tfbert.models.pretrained import resolve_checkpoint_dir

# Keras's own constructor arguments that a saved BertEncoder config carries.
_KERAS_ARGUMENTS = ("name", "trainable")


@keras.saving.register_keras_serializable(package="tfbert")
class BertEncoder(keras.Model):
    """A BERT encoder whose constructor takes the fields of `BertConfig`.

    Inputs: a dict of `input_ids`, `segment_ids`, `input_mask` (int32 [batch, seq]).
    Outputs: a dict of `sequence_output` [batch, seq, hidden] and
    `pooled_output` [batch, hidden], in the dtype policy's compute dtype.

    `pooled_only=True` is for models that read only the pooled output (a [CLS]
    head): the last block then computes only the [CLS] position, so
    `sequence_output` is [batch, 1, hidden]. The pooled output is the same; the
    last block's work drops by about three quarters (its attention output and
    feed-forward for one position instead of every position). Exports of [CLS]-head
    classifiers use it.
    """

    def __init__(self, initializer_range=0.02, pooled_only=False, dtype=None, **kwargs):
        """Keyword arguments: the fields of `BertConfig` (only `vocab_size` is
        required; the others default as there), and

          initializer_range: stddev of the truncated normal that initializes weights.
          pooled_only: see the class docstring.
          dtype: a dtype policy or its name, e.g. "mixed_bfloat16".
          name, trainable: as for any Keras model.

        `BertConfig` validates the fields; an argument that is neither one of them
        nor one of the above is a TypeError naming it.
        """
        keras_kwargs = {key: kwargs.pop(key) for key in _KERAS_ARGUMENTS if key in kwargs}
        unknown = sorted(set(kwargs) - set(BertConfig.field_names()))
        if unknown:
            raise TypeError(
                f"BertEncoder got unknown argument(s) {', '.join(unknown)}; it takes the "
                f"fields of BertConfig ({', '.join(BertConfig.field_names())}) and "
                f"initializer_range, pooled_only, dtype, {', '.join(_KERAS_ARGUMENTS)}."
            )
        config = BertConfig(**kwargs)

        # Layers are created before the graph is traced through them, keras-hub
        # style, so that they are reachable by name for checkpoint loading.
        shared = dict(
            layer_norm_epsilon=config.layer_norm_epsilon,
            initializer_range=initializer_range,
            dtype=dtype,
        )
        embeddings = BertEmbeddings(
            config.vocab_size, config.embedding_width,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            dropout=config.hidden_dropout, name="embeddings", **shared,
        )
        blocks = [
            TransformerBlock(
                config.hidden_size, config.num_heads, config.intermediate_size,
                hidden_act=config.hidden_act,
                hidden_dropout=config.hidden_dropout,
                attention_dropout=config.attention_dropout,
                name=f"transformer_block_{i}", **shared,
            )
            for i in range(config.num_layers)
        ]
        # ELECTRA's narrower embeddings are projected to the blocks' width.
        projection = keras.layers.Dense(
            config.hidden_size, kernel_initializer=truncated_normal(initializer_range),
            dtype=dtype, name="embedding_projection",
        ) if config.embedding_width != config.hidden_size else None
        pooler = keras.layers.Dense(
            config.hidden_size,
            activation="tanh",
            kernel_initializer=truncated_normal(initializer_range),
            dtype=dtype,
            name="pooler",
        )

        input_ids = keras.Input(shape=(None,), dtype="int32", name="input_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        input_mask = keras.Input(shape=(None,), dtype="int32", name="input_mask")

        mask_bias = attention_mask_bias(input_mask)          # float32 [B, 1, 1, T]
        hidden_states = embeddings(input_ids, segment_ids)   # [B, T, E]
        if projection is not None:
            hidden_states = projection(hidden_states)        # [B, T, H]
        for index, block in enumerate(blocks):
            last = index == len(blocks) - 1
            hidden_states = block(hidden_states, mask_bias, first_position_only=pooled_only and last)
        pooled_output = pooler(hidden_states[:, 0, :])       # [B, H]

        super().__init__(
            # Keys in sorted order: TensorFlow sorts dict keys when it flattens
            # them (tf.data, tf.function), and Keras warns on any other order.
            inputs={
                "input_ids": input_ids,
                "input_mask": input_mask,
                "segment_ids": segment_ids,
            },
            outputs={"sequence_output": hidden_states, "pooled_output": pooled_output},
            **keras_kwargs,
        )
        # A functional Model drops a `dtype` argument without a word; set the policy
        # itself, so that get_config (and so a saved .keras file) keeps it.
        self.dtype_policy = dtype
        self.bert_config = config
        self.initializer_range = initializer_range
        self.pooled_only = pooled_only
        # The other layers are reached by name: get_layer("embeddings"), "pooler".
        self.transformer_blocks = blocks

    def from_token_vectors(self, token_vectors, segment_ids, input_mask):
        """The encoder's outputs (inference: no dropout) from the token embedding
        vectors [B, T, E] (E: the embedding width) instead of `input_ids`: the same layers in the same order as
        the graph built in __init__. Integrated gradients (tfbert/inference/attributions.py)
        differentiates the model along a path of such vectors."""
        embeddings = self.get_layer("embeddings")
        mask_bias = attention_mask_bias(input_mask)                           # [B, 1, 1, T]
        hidden_states = embeddings.from_token_vectors(token_vectors, segment_ids)  # [B, T, E]
        if self.bert_config.embedding_width != self.bert_config.hidden_size:
            hidden_states = self.get_layer("embedding_projection")(hidden_states)  # [B, T, H]
        for block in self.transformer_blocks:
            hidden_states = block(hidden_states, mask_bias)
        pooled_output = self.get_layer("pooler")(hidden_states[:, 0, :])      # [B, H]
        return {"sequence_output": hidden_states, "pooled_output": pooled_output}

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config.update(self.bert_config.to_dict())
        config["initializer_range"] = self.initializer_range
        config["pooled_only"] = self.pooled_only
        config["dtype"] = keras.dtype_policies.serialize(self.dtype_policy)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    @classmethod
    def from_bert_config(cls, config, **kwargs):
        return cls(**config.to_dict(), **kwargs)

    @classmethod
    def from_pretrained(cls, path_or_name, dtype=None, **kwargs):
        """Builds the encoder of a checkpoint and loads its weights.

        `path_or_name` is a Hugging Face directory (config.json, model.safetensors),
        a Google BERT directory (bert_config.json, bert_model.ckpt.*), or a short
        name such as "all-minilm-l6-v2". Every weight is checked before any is
        assigned: missing, unexpected or misshapen weights raise one error that
        lists all of them.
        """
        checkpoint = read_checkpoint(resolve_checkpoint_dir(path_or_name))
        # Zeros, not random draws: the load assigns every weight or raises.
        with weights_from_checkpoint():
            encoder = cls.from_bert_config(checkpoint.config, dtype=dtype, **kwargs)
        assign_checkpoint_weights(encoder, checkpoint)
        return encoder
