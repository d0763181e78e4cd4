"""ELECTRA (Clark et al. 2020) discriminators are BERT with a narrower embedding and
no pooler; this module says which, and how their checkpoints spell BERT's weights.

    BERT                                   ELECTRA
    embeddings of width hidden_size        embeddings of width embedding_size (E),
                                           then a dense projection E -> hidden_size
                                           when the two differ (`embeddings_project`)
    encoder blocks (post-LayerNorm)        the same blocks, the same names
    tanh pooler over [CLS]                 none

So an ELECTRA checkpoint loads into tfbert's BertEncoder with `model_type =
"electra"` and `embedding_size = E`. The encoder's pooler starts fresh, as for
DistilBERT; only heads that read it (`head = "cls"`) train it. The discriminator's
replaced-token head (`discriminator_predictions.*`) and a generator's heads are not
the encoder's and are skipped. A generator checkpoint (`ElectraForMaskedLM`) is not
read: its masked-LM head is ELECTRA's own, not BERT's.

Names (Hugging Face, without the `electra.` prefix of its task models) are BERT's,
plus `embeddings_project.{weight,bias}`. Pure Python (no TensorFlow).
"""

from tfbert.models.bert_keys import BERT_CONFIG_FIELDS

MODEL_TYPE = "electra"
PREFIX = "electra."
HAS_POOLER = False
TOKENIZER_CLASS = "ElectraTokenizer"

# config.json key -> BertConfig field: BERT's names, plus the embedding width.
CONFIG_FIELDS = {**BERT_CONFIG_FIELDS, "embedding_size": "embedding_size"}
# The sequence-summary keys configure a task head of transformers', not the encoder.
IGNORED_KEYS = frozenset({"summary_type", "summary_use_proj", "summary_activation",
                          "summary_last_dropout"})


def canonical_name(stored):
    """ELECTRA's names are BERT's canonical names already (embeddings_project added)."""
    return stored


def stored_name(canonical):
    return canonical


def architecture(bert_architecture):
    """The config.json architecture a written ELECTRA encoder names."""
    return "ElectraModel"


def config_fields(values, source):
    """config.json (model_type "electra") -> BertConfig field values, and the names the
    user wrote for them (for messages)."""
    fields = {field: values[key] for key, field in CONFIG_FIELDS.items() if key in values}
    fields["model_type"] = MODEL_TYPE
    return fields, {field: key for key, field in CONFIG_FIELDS.items()}


def hugging_face_config(config):
    values = {key: getattr(config, field) for key, field in CONFIG_FIELDS.items()}
    values["embedding_size"] = config.embedding_width
    return {"model_type": MODEL_TYPE, "position_embedding_type": "absolute", **values}
