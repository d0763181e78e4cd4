"""DistilBERT (Sanh et al. 2019) is BERT with three things taken out; this module says
which, and how its checkpoints spell BERT's weights.

    BERT                                   DistilBERT
    token + segment + position embeddings  token + position (no segment table)
    encoder blocks (post-LayerNorm)        the same blocks, half as many
    tanh pooler over [CLS]                 none

So a DistilBERT checkpoint loads into tfbert's BertEncoder with `model_type =
"distilbert"` and `type_vocab_size = 0` (no segment embedding; the segment ids a pair
task packs are not read, as DistilBERT reads none). Its encoder has no pooler
weights: the encoder's pooler starts fresh, and only heads that read it (`head =
"cls"`) train it. Everything else, the attention with its additive mask, GELU, the
feed-forward and LayerNorm at 1e-12, is BERT's arithmetic, weight for weight.

Names (Hugging Face, without the `distilbert.` prefix of its task models):

    embeddings.word_embeddings / position_embeddings / LayerNorm
    transformer.layer.{i}.attention.{q,k,v,out}_lin     attention
    transformer.layer.{i}.sa_layer_norm                 LayerNorm after attention
    transformer.layer.{i}.ffn.lin1 / ffn.lin2           feed-forward
    transformer.layer.{i}.output_layer_norm             LayerNorm after it
    vocab_transform, vocab_layer_norm, vocab_projector  the masked-LM head

Pure Python (no TensorFlow): reading a config stays cheap.
"""

import re

MODEL_TYPE = "distilbert"
PREFIX = "distilbert."
HAS_POOLER = False
TOKENIZER_CLASS = "DistilBertTokenizer"
LAYER_NORM_EPSILON = 1e-12  # fixed in DistilBERT's code, not in its config

# config.json key -> BertConfig field.
CONFIG_FIELDS = {
    "vocab_size": "vocab_size",
    "dim": "hidden_size",
    "n_layers": "num_layers",
    "n_heads": "num_heads",
    "hidden_dim": "intermediate_size",
    "activation": "hidden_act",
    "dropout": "hidden_dropout",
    "attention_dropout": "attention_dropout",
    "max_position_embeddings": "max_position_embeddings",
}
# Keys that say nothing about the encoder's arithmetic: task-head dropouts, weight tying
# of the masked-LM head, and whether the position table was initialised sinusoidally
# (the table is stored either way; tfbert fine-tunes it, as BERT's).
IGNORED_KEYS = frozenset({"qa_dropout", "seq_classif_dropout", "tie_weights_",
                          "sinusoidal_pos_embds"})

# (DistilBERT's name, BERT's canonical name), {i} a layer's index; a name ending in "."
# renames every weight under it. The masked-LM head's output weights are the token
# table's (tied): read, then skipped; never written.
_NAMES = [
    ("transformer.layer.{i}.attention.q_lin.", "encoder.layer.{i}.attention.self.query."),
    ("transformer.layer.{i}.attention.k_lin.", "encoder.layer.{i}.attention.self.key."),
    ("transformer.layer.{i}.attention.v_lin.", "encoder.layer.{i}.attention.self.value."),
    ("transformer.layer.{i}.attention.out_lin.", "encoder.layer.{i}.attention.output.dense."),
    ("transformer.layer.{i}.sa_layer_norm.", "encoder.layer.{i}.attention.output.LayerNorm."),
    ("transformer.layer.{i}.ffn.lin1.", "encoder.layer.{i}.intermediate.dense."),
    ("transformer.layer.{i}.ffn.lin2.", "encoder.layer.{i}.output.dense."),
    ("transformer.layer.{i}.output_layer_norm.", "encoder.layer.{i}.output.LayerNorm."),
    ("vocab_transform.", "cls.predictions.transform.dense."),
    ("vocab_layer_norm.", "cls.predictions.transform.LayerNorm."),
    ("vocab_projector.bias", "cls.predictions.bias"),
    ("vocab_projector.weight", "cls.predictions.decoder.weight"),
]


def _rule(source, target):
    """A (regex, replacement) that renames `source`-spelled names into `target`'s."""
    pattern = re.escape(source).replace(re.escape("{i}"), r"(\d+)")
    return "^" + pattern + ("" if source.endswith(".") else "$"), target.replace("{i}", r"\1")


_TO_BERT = [_rule(distil, bert) for distil, bert in _NAMES]
_FROM_BERT = [_rule(bert, distil) for distil, bert in _NAMES]


def _renamed(name, rules):
    for pattern, replacement in rules:
        renamed, count = re.subn(pattern, replacement, name)
        if count:
            return renamed
    return name


def canonical_name(stored):
    """A DistilBERT weight name (prefix already removed) -> BERT's canonical name."""
    return _renamed(stored, _TO_BERT)


def stored_name(canonical):
    """BERT's canonical name -> DistilBERT's (no prefix): the inverse of canonical_name."""
    return _renamed(canonical, _FROM_BERT)


def architecture(bert_architecture):
    """The config.json architecture of a written DistilBERT, for BERT's ("BertModel",
    "BertForMaskedLM"); DistilBERT has no next-sentence head, so no ForPreTraining."""
    return bert_architecture.replace("ForPreTraining", "ForMaskedLM").replace("Bert", "DistilBert")


def config_fields(values, source):
    """config.json (model_type "distilbert") -> BertConfig field values, and the names
    the user wrote for them (for messages). Unknown keys are the caller's to refuse."""
    fields = {field: values[key] for key, field in CONFIG_FIELDS.items() if key in values}
    fields["type_vocab_size"] = 0
    fields["layer_norm_epsilon"] = LAYER_NORM_EPSILON
    fields["model_type"] = MODEL_TYPE
    return fields, {field: key for key, field in CONFIG_FIELDS.items()}


def hugging_face_config(config):
    """A BertConfig of model_type "distilbert" under DistilBERT's config.json names."""
    values = {key: getattr(config, field) for key, field in CONFIG_FIELDS.items()}
    return {"model_type": MODEL_TYPE, "sinusoidal_pos_embds": False, "tie_weights_": True,
            **values}
