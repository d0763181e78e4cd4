"""`Task`: a BERT encoder with a head, trained and served as one kind of task.

A task is a normal `keras.Model` whose `call` takes BERT's token inputs (a dict of
input_ids, segment_ids, input_mask). Its `fit`, `evaluate` and `predict` also take
raw text, keras-hub style: texts are tokenized in-graph by the model's own
`BertTokenizer`, batched by length (`tfbert.data.pipeline`), and everything else is
Keras' own loop. A `tf.data.Dataset` of token features passes straight to Keras.

Raw inputs are a list of strings, for pair tasks `(texts, text_pairs)` or a dict
with keys "text" and "text_pair", or a `TextExamples` as the readers return it
(labels included, and errors then name the file and line).

A task kind is one module under `tfbert/tasks/`, registered under the name recipes use
(`tfbert.tasks.registry.register_task`), in three parts, keras-hub style:

  the Keras model (this class's subclass)
    __init__ / call       the heads on the encoder, and the forward pass
    default_loss / default_metrics, initialize_from_targets (e.g. output biases at
                          the label priors), from_recipe (how a recipe builds it)
    infer                 one chunk of token features -> what the postprocessor reads;
                          the inference engine (tfbert/inference) runs it sorted by length
    and, where a kind has them: choose_on_dev (settings chosen on the dev set),
    load_pretrained_heads, save_artifacts, extra_signatures
  the preprocessor (`preprocessor_class`, tasks/preprocessor.py)
    examples -> targets (`encode_targets`, in Python) -> Keras' (x, y[, sample_weight])
    in tf.data (`preprocess`); `fit_options` (class weights)
  the postprocessor (`postprocessor_class`, tasks/postprocessor.py)
    model outputs -> named outputs in TF ops (`postprocess`: `named_outputs`, text in,
    is the function both `predict` and the served signature run), TF Serving's
    Classify / Regress API; and through its pure-Python half (tasks/answers.py, no
    TensorFlow: a server's answers become rows without it) the export's assets,
    prediction rows, scores and the report's lines, and the baseline plan.

The recipe table is a dataclass in tasks/sections.py (`recipe_section`), which also
reads the kind's files. Both parts are built from the task's tokenizer and
`plain_config()`: what the model knows, they know, and nothing of its weights.
"""

import copy
import json
import weakref

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.pipeline import TokenizedExamples
from tfbert.data.readers import TextExamples
from tfbert.inference.engine import CHUNK_SIZE, run_by_length, used_lengths
from tfbert.models.encoder import BertEncoder
from tfbert.tasks.postprocessor import Postprocessor
from tfbert.tasks.preprocessor import Preprocessor
from tfbert.text.tokenizer import BertTokenizer

# In-process prediction runs this many batches of texts per call of its graph function.
PREDICT_WINDOW_BATCHES = 64


class Task(keras.Model):
    """Base class: `encoder` (+ the subclass's head) and raw text in and out."""

    task_name = None  # set by @register_task
    recipe_section = None  # a dataclass; its fields are the keys of [<task_name>]
    default_eval_metric = "accuracy"
    preprocessor_class = Preprocessor
    postprocessor_class = Postprocessor

    def __init__(self, encoder, tokenizer, pair=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        if isinstance(tokenizer, dict):
            tokenizer = BertTokenizer.from_config(tokenizer)
        if not isinstance(encoder, BertEncoder):
            raise TypeError(f"encoder must be a tfbert.BertEncoder, got {type(encoder).__name__}.")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.pair = bool(pair)

    def build_from_tokens(self):
        """Creates every variable by running one tiny batch, so that saving, loading
        and checkpoint restore never meet a half-built model. Subclasses call it at
        the end of __init__, once their heads exist."""
        # The encoder's tanh pooler feeds only heads that read the pooled output:
        # under any other head it would get no gradient, so it is not trained (and
        # Keras does not warn about it).
        if not self.reads_pooled_output:
            self.encoder.get_layer("pooler").trainable = False
        self(self.tiny_batch())
        self.built = True

    def tiny_batch(self):
        """Token features of one short example (one pair for pair tasks)."""
        return self.tokenizer(["a"], ["b"] if self.pair else None)

    # ------------------------------------------------------------ the contract

    @classmethod
    def from_recipe(cls, recipe, encoder, tokenizer, train_examples):
        raise NotImplementedError(f"{cls.__name__} does not say how a recipe builds it.")

    @property
    def preprocessor(self):
        """The task's `Preprocessor` (examples -> Keras' x, y), for its current settings."""
        return _part(self, self.preprocessor_class, self.packer)

    @property
    def packer(self):
        """What packs token pieces into the model's inputs (`tokenize`, `packed_lengths`,
        `pack`): the tokenizer, or a long-text task's windows (data/text_windows.py)."""
        return self.tokenizer

    @property
    def postprocessor(self):
        """The task's `Postprocessor` (outputs -> answers), for its current settings."""
        return _part(self, self.postprocessor_class)

    def initialize_from_targets(self, targets):
        """Called once with the training targets before training starts."""

    def choose_on_dev(self, section, dev_examples):
        """Called once the best weights are loaded, before the run saves, evaluates and
        exports, with the recipe's task section and the dev examples: where a task sets
        what is chosen on held-out data (a rejection threshold). Returns a message to
        print, or None (nothing to choose, the default)."""
        return None

    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        return []

    def load_pretrained_heads(self, checkpoint_dir):
        """Called when a run builds the task on a checkpoint: a task whose heads a
        checkpoint may carry (BERT's pretraining heads) loads them here. Returns the
        names of the heads loaded; none by default (heads start fresh)."""
        return []

    def save_artifacts(self, directory):
        """Called once a run has kept its best weights, with the run's directory: where a
        task writes what it makes besides the saved model (a pretraining task, its
        Hugging Face checkpoint). Nothing by default."""

    # training.head_learning_rate = "auto": the head's peak rate (0: the encoder's).
    default_head_learning_rate = 0.0

    @property
    def head_variables(self):
        """The trainable weights outside the encoder: the head's (training.head_learning_rate)."""
        encoder = {id(variable) for variable in self.encoder.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in encoder]

    @property
    def reads_pooled_output(self):
        """True when a head reads the encoder's pooled output (its pooler is trained)."""
        return False

    @property
    def reads_only_pooled_output(self):
        """True when the head reads only the pooled [CLS] output (the export then
        computes only [CLS] in the last block)."""
        return False

    # ------------------------------------------------------------- raw text in

    def is_text_input(self, x):
        if isinstance(x, (TextExamples, TokenizedExamples)):
            return True
        if isinstance(x, dict):
            return "text" in x
        return not isinstance(x, tf.data.Dataset)

    def tokenize(self, x, y=None, targets=True, on_unknown="error"):
        """Raw inputs -> tokenized examples with targets: `self.preprocessor.tokenize`."""
        return self.preprocessor.tokenize(x, y, targets=targets, on_unknown=on_unknown)

    # ------------------------------------------------------------ Keras' loop

    def compile(self, optimizer="adamw", loss="auto", metrics="auto", **kwargs):
        """Keras' compile with the task's loss and metrics by default ("auto").

        BERT's convention on weight decay applies to any optimizer: no decay on 1-D
        weights (biases, LayerNorm scales and offsets, the attention-pooling
        query); decaying them pulls normalisation toward zero and buys nothing.
        """
        optimizer = keras.optimizers.get(optimizer)
        if not optimizer.built:
            optimizer.exclude_from_weight_decay(
                var_list=[v for v in self.trainable_variables if len(v.shape) <= 1])
        if hasattr(optimizer, "scale_learning_rate"):  # a head learning rate of its own
            optimizer.scale_learning_rate(self.head_variables)
        super().compile(
            optimizer=optimizer,
            loss=self.default_loss() if loss == "auto" else loss,
            metrics=self.default_metrics() if metrics == "auto" else metrics,
            **kwargs,
        )

    def fit(self, x=None, y=None, batch_size=32, epochs=1, validation_data=None, shuffle=True,
            seed=0, initial_step=0, **kwargs):
        """Keras' fit; on raw text, over length-bucketed batches planned per epoch.

        Epoch e's batches are a pure function of (seed, e), so `initial_step` (the
        optimizer steps already done, as after a resume) skips exactly the batches
        already trained on. A partly done epoch is finished in a fit() of its own;
        the remaining epochs run in one fit() (Keras keeps reading one iterator
        across epochs when steps_per_epoch is given); a callback that stops training
        in the first stops the second too. Returns the last History.
        """
        if not self.is_text_input(x):
            if isinstance(x, tf.data.Dataset):
                self.build_training_state(x)
            return super().fit(x, y, batch_size=None if isinstance(x, tf.data.Dataset) else batch_size,
                               epochs=epochs, validation_data=validation_data, shuffle=shuffle,
                               **kwargs)
        data = self.tokenize(x, y)
        if not len(data):
            raise ValueError(f"{data.examples.source}: no examples to train on.")
        if validation_data is not None and not isinstance(validation_data, tf.data.Dataset):
            held_out = (self.tokenize(validation_data) if isinstance(validation_data, TextExamples)
                        else self.tokenize(*validation_data))
            validation_data = held_out.dataset(self.packer, held_out.plan(batch_size, shuffle=False),
                                               self.preprocessor.preprocess)
        steps = data.steps_per_epoch(batch_size)
        plan = lambda epoch: data.plan(batch_size, shuffle=shuffle, seed=seed, epoch=epoch)
        epoch, skip = divmod(initial_step, steps)
        history = None

        preprocess = self.preprocessor.preprocess

        def run(batches, first_epoch, last_epoch, steps_per_epoch, first_step):
            dataset = data.dataset(self.packer, batches, preprocess, first_step=first_step)
            self.build_training_state(dataset)
            # shuffle=False: the plan is already shuffled, per epoch and seed.
            return super(Task, self).fit(
                dataset,
                epochs=last_epoch,
                initial_epoch=first_epoch, steps_per_epoch=steps_per_epoch, shuffle=False,
                validation_data=validation_data, **kwargs)

        if skip and epoch < epochs:
            history = run(plan(epoch)[skip:], epoch, epoch + 1, steps - skip, initial_step)
            epoch += 1
        if epoch < epochs and not (history is not None and self.stop_training):
            history = run([batch for e in range(epoch, epochs) for batch in plan(e)], epoch,
                          epochs, steps, epoch * steps)
        return history

    def build_training_state(self, dataset):
        """Creates the optimizer's and the compiled loss' and metrics' variables, from
        one batch of `dataset` run eagerly, before Keras traces its train or test step.

        Without a distribution strategy Keras creates them inside the step's first
        trace, and a tf.function that creates variables is traced a second time: every
        fit() traced the whole train step twice. Under a strategy Keras builds them
        first itself, in the strategy's scope (and this leaves them to it)."""
        if self.optimizer is None or tf.distribute.has_strategy() or \
                self.distribute_strategy is not tf.distribute.get_strategy():
            return
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(next(iter(dataset.take(1))))
        y_pred = self(x, training=False)
        self.compute_loss(x, y, y_pred, sample_weight, training=False)
        self.compute_metrics(x, y, y_pred, sample_weight)  # Keras resets them per epoch
        self.reset_metrics()

    def evaluate(self, x=None, y=None, batch_size=32, **kwargs):
        if not self.is_text_input(x):
            if isinstance(x, tf.data.Dataset):
                self.build_training_state(x)
            return super().evaluate(x, y, **kwargs)
        data = self.tokenize(x, y)
        dataset = data.dataset(self.packer, data.plan(batch_size, shuffle=False),
                               self.preprocessor.preprocess)
        self.build_training_state(dataset)
        return super().evaluate(dataset, **kwargs)

    def predict(self, x, batch_size=32, **kwargs):
        """Raw inputs -> the task's named outputs as numpy arrays (strings as str):
        the very dict the served `serving_default` signature returns, made by the
        same graph function (`named_outputs`). A `tf.data.Dataset` of token features
        returns Keras' plain model outputs."""
        if not self.is_text_input(x):
            return super().predict(x, **kwargs)
        examples = x.examples if isinstance(x, TokenizedExamples) else self.preprocessor.as_examples(x)
        return self.predict_texts(examples.texts, examples.text_pairs, batch_size)

    def predict_texts(self, texts, pairs=None, batch_size=32):
        """`named_outputs` of lists of texts (and pairs), as numpy, window by window:
        memory holds one window's outputs on their way to numpy."""
        run = compiled(self, "named_outputs")
        assets = self.asset_tensors()
        # Traced for any number of texts up front: else the first window's count is
        # traced, and the next count traces the whole graph again.
        any_count = tf.TensorSpec([None], tf.string)
        run.get_concrete_function(any_count, None if pairs is None else any_count, assets,
                                  chunk_size=batch_size)
        parts = []
        window = batch_size * PREDICT_WINDOW_BATCHES
        for start in range(0, max(len(texts), 1), window):
            window_pairs = (None if pairs is None else
                            tf.constant(list(pairs[start:start + window]), tf.string))
            outputs = run(tf.constant(list(texts[start:start + window]), tf.string),
                          window_pairs, assets, chunk_size=batch_size)
            parts.append({key: as_numpy(value) for key, value in outputs.items()})
        return concatenate_outputs(parts)

    # ------------------------------------------------------------- inference

    def infer(self, features):
        """Token features of one chunk -> what `postprocess` reads (float32): the
        model's outputs. The inference engine runs it on length-sorted chunks; an
        export may run it XLA-compiled."""
        return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), self(features, training=False))

    def inference_specs(self):
        """`(dtype, row_shape)` of `infer`'s output (a dict of them for a dict): what
        the engine stitches chunks into. Found once per task by running it on one
        example: each trace of a predict or serving function asks."""
        if self not in _INFERENCE_SPECS:
            with tf.init_scope():  # eagerly, also while a tf.function is traced
                example = self.infer(self.tiny_batch())
            spec = lambda t: (t.dtype, t.shape[1:].as_list())
            _INFERENCE_SPECS[self] = ({k: spec(v) for k, v in example.items()}
                                      if isinstance(example, dict) else spec(example))
        return copy.deepcopy(_INFERENCE_SPECS[self])

    def named_outputs(self, texts, pairs=None, assets=None, infer=None, chunk_size=CHUNK_SIZE):
        """Raw texts tf.string [B] (pairs too for pair tasks) -> the named outputs, in
        TF ops: what `serving_default` serves and `predict` returns. `assets`: as for
        `postprocess` (default: the task's own, as constants); `infer`: the function
        run on each chunk (default `self.infer`; an export passes its XLA one)."""
        infer = infer or self.infer
        packer = self.packer
        rows = {"first": packer.tokenize(texts)}
        if pairs is not None:
            rows["second"] = packer.tokenize(pairs)
        lengths = packer.packed_lengths(rows["first"], rows.get("second"))
        outputs = run_by_length(
            lambda chunk, longest: infer(packer.pack(chunk["first"], chunk.get("second"))),
            rows, lengths, self.inference_specs(), chunk_size)
        return self.postprocessor.postprocess(outputs, self.asset_tensors() if assets is None else assets)

    def id_inputs(self):
        """The int32 [B, T] inputs a client that tokenizes itself sends (`predict_ids`)."""
        return ["input_ids", "segment_ids", "input_mask"]

    def named_outputs_of_ids(self, features, assets=None, infer=None, chunk_size=CHUNK_SIZE):
        """Token features (dict of `id_inputs`, padded) -> the named outputs."""
        infer = infer or self.infer
        outputs = run_by_length(
            lambda chunk, longest: infer({name: value[:, :longest] for name, value in chunk.items()}),
            features, used_lengths(features["input_mask"]), self.inference_specs(), chunk_size)
        return self.postprocessor.postprocess(outputs, self.asset_tensors() if assets is None else assets)

    def explained_output(self, token_vectors, segment_ids, input_mask, target=None):
        """The output `tfbert explain` attributes to the input, from token embedding
        vectors [n, T, H]: [n]. A kind that can be explained says what it is."""
        raise ValueError(f"tfbert explain is for classifiers and regressors (a pooled head); "
                         f"a {self.task_name} task cannot be explained yet.")

    def extra_signatures(self, assets, infer, chunk_size):
        """Signatures a task kind serves besides text, ids and tf.Examples:
        {name: (function, [tf.TensorSpec of its inputs])}. None here."""
        return {}

    def asset_tensors(self):
        """The postprocessor's assets as tf.string constants (an export reads its files)."""
        return {name: tf.constant(lines, tf.string)
                for name, lines in self.postprocessor.export_assets().items()}

    # ---------------------------------------------------------- serialization

    def get_compile_config(self):
        # A loaded task is compiled again by its user (compile() has task defaults);
        # restoring a compiled state with a custom compile() is not supported by Keras.
        return None

    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "tokenizer": self.tokenizer.get_config(),
            **self.plain_config(),
        }

    def plain_config(self):
        """The task's own settings as plain values (no encoder, no tokenizer): what its
        preprocessor and postprocessor are built from, and what a run directory keeps
        (task.json). A kind adds its own settings here."""
        return {"pair": self.pair}


def as_numpy(tensor):
    """A tensor's values as numpy; strings (tf.string's bytes) as str objects."""
    array = np.asarray(tensor)
    if array.dtype == object:  # tf.string: bytes -> str
        return np.array([item.decode("utf-8") for item in array.ravel()],
                        dtype=object).reshape(array.shape)
    return array


def concatenate_outputs(parts):
    """Named outputs of several windows -> one dict. A second axis that differs between
    windows (a tagger's entities) is padded as the served outputs are: "" for strings,
    -1 for numbers."""
    result = {}
    for key in parts[0]:
        arrays = [part[key] for part in parts]
        if arrays[0].ndim >= 2 and len({a.shape[1] for a in arrays}) > 1:
            width = max(a.shape[1] for a in arrays)
            pad = "" if arrays[0].dtype == object else -1
            arrays = [np.concatenate([a, np.full([a.shape[0], width - a.shape[1], *a.shape[2:]],
                                                 pad, a.dtype)], axis=1) for a in arrays]
        result[key] = np.concatenate(arrays)
    return result


# A task's preprocessor and postprocessor, made once per task, class and settings.
_PARTS = weakref.WeakKeyDictionary()


def _part(task, part_class, *args):
    """`part_class(*args, task.plain_config())`, made again only when a setting changed
    (`choose_reject_below` changes what the postprocessor answers)."""
    config = task.plain_config()
    settings = json.dumps(config, sort_keys=True, default=str)
    parts = _PARTS.setdefault(task, {})
    if (part_class, settings) not in parts:
        parts[part_class, settings] = part_class(*args, config)
    return parts[part_class, settings]


# What `infer` returns per row, per task (Task.inference_specs).
_INFERENCE_SPECS = weakref.WeakKeyDictionary()

# tf.functions of a task's methods, made once per task (an attribute of the task would be
# found and traced again by tf.saved_model.save).
_COMPILED = weakref.WeakKeyDictionary()


def compiled(task, method):
    """`tf.function(task.<method>)`, made once per task, method and settings. A trace
    bakes the task's Python settings into its graph (a classifier's reject_below), so a
    changed setting (`choose_reject_below`) gets a function of its own."""
    settings = json.dumps(task.plain_config(), sort_keys=True, default=str)
    functions = _COMPILED.setdefault(task, {})
    if (method, settings) not in functions:
        functions[method, settings] = tf.function(getattr(task, method), reduce_retracing=True,
                                                 autograph=False)
    return functions[method, settings]
