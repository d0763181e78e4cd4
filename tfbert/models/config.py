"""The BERT architecture as one small, validated value: `BertConfig`.

This is the one place where the architecture's fields and their checks are written:
`BertEncoder` takes the same fields as keyword arguments and builds a `BertConfig`
from them. Kept free of TensorFlow so that reading a config is cheap.

It reads the two config files BERT checkpoints ship with:
- Hugging Face `config.json` (`num_hidden_layers`, `layer_norm_eps`, `model_type`, ...),
- Google `bert_config.json` (the same names, minus the Hugging Face bookkeeping);
and the `config.json` of the other families read as a BERT (`FAMILIES`): DistilBERT
(`model_type` "distilbert": `dim`, `n_layers`, ...; no segment embeddings) and ELECTRA
(`model_type` "electra": a narrower embedding); tfbert/models/<family>.py says what
differs.

An unknown key is an error rather than something skipped: a key we do not understand
may change the architecture (`embedding_size`, `position_embedding_type`, ...), and
ignoring it would load weights into the wrong model without a word.
"""

import dataclasses
import json
import pathlib

from tfbert.models import distilbert, electra
from tfbert.models.bert_keys import BERT_CONFIG_FIELDS

# The hidden_act names tfbert implements. The functions themselves need TensorFlow and
# live in tfbert/layers/transformer_block.py (ACTIVATIONS); a test keeps the two equal.
SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")

# Keys Hugging Face writes into every config.json that say nothing about the encoder
# itself (generation, task heads, export bookkeeping). They are accepted and ignored.
IGNORED_HF_KEYS = frozenset(
    {
        "_name_or_path", "architectures", "transformers_version", "torch_dtype",
        "dtype", "gradient_checkpointing", "use_cache", "classifier_dropout",
        "id2label", "label2id", "num_labels", "problem_type", "finetuning_task",
        "output_past", "output_attentions", "output_hidden_states", "return_dict",
        "bos_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id",
        "tie_word_embeddings", "chunk_size_feed_forward", "tokenizer_class",
        "prefix", "task_specific_params", "directionality", "pooler_fc_size",
        "pooler_num_attention_heads", "pooler_num_fc_layers", "pooler_size_per_head",
        "pooler_type", "initializer_range", "pad_token_id", "model_type",
        "position_embedding_type", "is_decoder", "add_cross_attention",
    }
)

# The checkpoint families read into a BertEncoder besides BERT itself, by model_type.
# Each module says what differs: CONFIG_FIELDS and IGNORED_KEYS (its config.json),
# config_fields / hugging_face_config (reading and writing it), canonical_name /
# stored_name (its weight names <-> BERT's canonical ones), PREFIX (of its task models'
# weights), HAS_POOLER, TOKENIZER_CLASS and architecture (what a written one names).
FAMILIES = {family.MODEL_TYPE: family for family in (distilbert, electra)}
MODEL_TYPES = ("bert", *FAMILIES)

# Hugging Face name -> BertConfig field. Google's bert_config.json uses the same names.
_FIELD_FOR_KEY = BERT_CONFIG_FIELDS


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields that fix a BERT encoder's shape and behaviour.

    vocab_size, type_vocab_size, max_position_embeddings: rows of the token, segment
        and position embedding tables.
    hidden_size, num_layers, num_heads, intermediate_size: width, depth, attention
        heads (each of hidden_size / num_heads) and feed-forward width.
    hidden_act: the feed-forward activation, one of SUPPORTED_ACTIVATIONS.
    hidden_dropout, attention_dropout: dropout rates on hidden states and on
        attention probabilities.
    layer_norm_epsilon: LayerNorm's epsilon (1e-12 in the original BERT).
    type_vocab_size 0: no segment embedding at all (DistilBERT).
    model_type: the checkpoint family whose names and config.json the encoder is
        written back in: "bert" or one of FAMILIES.
    embedding_size: the width of the embedding tables (ELECTRA's can be narrower than
        hidden_size, then projected to it); 0: hidden_size, as in BERT.
    """

    vocab_size: int
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_epsilon: float = 1e-12
    model_type: str = "bert"
    embedding_size: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self, key_names=None):
        """Raises ValueError naming the first key whose value cannot build a BERT.

        `key_names` maps field names to the names the user wrote (for example
        `num_layers` -> `num_hidden_layers` in a Hugging Face config.json), so the
        message names the key as it appears in their file.
        """
        key = lambda field: (key_names or {}).get(field, field)
        for name in (
            "vocab_size", "hidden_size", "num_layers", "num_heads",
            "intermediate_size", "max_position_embeddings",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{key(name)} must be a positive integer, got {value!r}.")
        value = self.type_vocab_size
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key('type_vocab_size')} must be an integer >= 0 (0: no segment "
                             f"embedding), got {value!r}.")
        value = self.embedding_size
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key('embedding_size')} must be an integer >= 0 (0: hidden_size), "
                             f"got {value!r}.")
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type {self.model_type!r} is not one of: "
                             f"{', '.join(MODEL_TYPES)}.")
        if self.model_type != electra.MODEL_TYPE and self.embedding_size not in (0, self.hidden_size):
            raise ValueError(f"an embedding_size ({self.embedding_size}) other than hidden_size "
                             f"({self.hidden_size}) is ELECTRA's (model_type 'electra'), not "
                             f"{self.model_type!r}'s.")
        if self.model_type == distilbert.MODEL_TYPE and self.type_vocab_size:
            raise ValueError(f"a distilbert encoder has no segment embedding: type_vocab_size "
                             f"must be 0, got {self.type_vocab_size}.")
        for name in ("hidden_dropout", "attention_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0.0 <= value < 1.0
            ):
                raise ValueError(f"{key(name)} must be in [0, 1), got {value!r}.")
        epsilon = self.layer_norm_epsilon
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (
            0.0 < epsilon < 1.0
        ):
            raise ValueError(
                f"{key('layer_norm_epsilon')} must be in (0, 1), got {epsilon!r}."
            )
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"{key('hidden_size')} ({self.hidden_size}) must be divisible by "
                f"{key('num_heads')} ({self.num_heads})."
            )
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"{key('hidden_act')} {self.hidden_act!r} is not supported; "
                f"supported: {', '.join(SUPPORTED_ACTIVATIONS)}."
            )

    @property
    def embedding_width(self):
        """The width of the embedding tables: embedding_size, or hidden_size when 0."""
        return self.embedding_size or self.hidden_size

    @property
    def head_size(self):
        return self.hidden_size // self.num_heads

    @classmethod
    def field_names(cls):
        """The architecture's field names, in declaration order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_hugging_face_dict(self):
        """The fields under Hugging Face's `config.json` names, in the family's layout."""
        if self.model_type in FAMILIES:
            return FAMILIES[self.model_type].hugging_face_config(self)
        values = {key: getattr(self, field) for key, field in _FIELD_FOR_KEY.items()}
        return {"model_type": "bert", "position_embedding_type": "absolute", **values}

    @classmethod
    def from_dict(cls, values, source="config", key_names=None):
        """Builds a config from tfbert's own field names (as `to_dict` writes)."""
        fields = cls.field_names()
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(unknown)}; "
                f"valid keys: {', '.join(sorted(fields))}."
            )
        if "vocab_size" not in values:
            raise ValueError(f"{source}: missing required key vocab_size.")
        config = object.__new__(cls)
        for field in dataclasses.fields(cls):
            object.__setattr__(config, field.name, values.get(field.name, field.default))
        try:
            config.validate(key_names)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        return config

    @classmethod
    def from_json_file(cls, path):
        """Reads a Hugging Face `config.json` or a Google `bert_config.json`."""
        path = pathlib.Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"Config file not found: {path}") from None
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg})."
            ) from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object, got {type(values).__name__}.")
        return cls.from_checkpoint_dict(values, source=str(path))

    @classmethod
    def from_checkpoint_dict(cls, values, source="config"):
        """Maps checkpoint key names (Hugging Face or Google) onto a BertConfig."""
        model_type = values.get("model_type", "bert")
        if model_type in FAMILIES:
            family = FAMILIES[model_type]
            unknown = sorted(set(values) - set(family.CONFIG_FIELDS) - family.IGNORED_KEYS
                             - IGNORED_HF_KEYS)
            if unknown:
                raise ValueError(
                    f"{source}: unknown key(s) {', '.join(unknown)} for model_type "
                    f"{model_type!r}. tfbert reads {', '.join(sorted(family.CONFIG_FIELDS))}; "
                    "a key it does not know may change the architecture, so it refuses to guess."
                )
            position_type = values.get("position_embedding_type", "absolute")
            if position_type != "absolute":
                raise ValueError(f"{source}: position_embedding_type {position_type!r} is not "
                                 "supported; tfbert implements 'absolute'.")
            for flag in ("is_decoder", "add_cross_attention"):
                if values.get(flag):
                    raise ValueError(f"{source}: {flag}=true is not supported; tfbert is an encoder.")
            fields, key_names = family.config_fields(values, source)
            return cls.from_dict(fields, source=source, key_names=key_names)
        unknown = sorted(set(values) - set(_FIELD_FOR_KEY) - IGNORED_HF_KEYS)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(unknown)}. tfbert reads "
                f"{', '.join(sorted(_FIELD_FOR_KEY))} (and ignores Hugging Face "
                "bookkeeping keys); a key it does not know may change the "
                "architecture, so it refuses to guess."
            )
        if model_type != "bert":
            raise ValueError(
                f"{source}: model_type {model_type!r} is not supported; tfbert loads "
                f"model_type {' and '.join(repr(t) for t in MODEL_TYPES)}."
            )
        position_type = values.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ValueError(
                f"{source}: position_embedding_type {position_type!r} is not "
                "supported; tfbert implements 'absolute'."
            )
        for flag in ("is_decoder", "add_cross_attention"):
            if values.get(flag):
                raise ValueError(
                    f"{source}: {flag}=true is not supported; tfbert is an encoder."
                )
        return cls.from_dict(
            {field: values[key] for key, field in _FIELD_FOR_KEY.items() if key in values},
            source=source,
            key_names={field: key for key, field in _FIELD_FOR_KEY.items()},
        )
