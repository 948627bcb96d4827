"""The stage contract: a Keras layer that runs on strings, ragged tokens or ids, in tf.data and in
a SavedModel."""

import keras

from nlp_lstm.config.registry import Registry
from nlp_lstm.errors import ConfigError

STAGES = Registry("stage")


def register_stage(name):
    """Registers a stage class under `name` and as a Keras serializable object
    (package nlp_lstm)."""

    def decorator(cls):
        cls = keras.saving.register_keras_serializable(package="nlp_lstm", name=cls.__name__)(cls)
        return STAGES.register(name)(cls)

    return decorator


class PreprocessingStage(keras.layers.Layer):
    """Base class of every stage: a non-trainable Keras layer with a `get_config` that is its
    constructor.

    Subclasses list their constructor arguments in `config_keys`; `get_config` returns exactly
    those, so `cls.from_config(stage.get_config())` rebuilds an equal stage. Stages with learned
    state set `requires_adapt = True` and implement `adapt(dataset)`, where `dataset` yields
    batches of what the previous stage outputs.
    """

    config_keys = ()
    requires_adapt = False

    def __init__(self, name=None, **kwargs):
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        super().__init__(name=name, trainable=False, **kwargs)
        self.supports_masking = False

    def get_config(self):
        config = {"name": self.name}
        config.update({key: getattr(self, key) for key in self.config_keys})
        return config

    @property
    def is_adapted(self):
        return True

    def adapt(self, dataset):
        """Learns state from `dataset` (a no-op for stateless stages)."""

    adapt_hint = "Pass `vocabulary=` or call `adapt()` first."

    def check_adapted(self):
        if not self.is_adapted:
            raise ConfigError(
                f"`{type(self).__name__}` has no learned state yet. {self.adapt_hint}"
            )

    def compute_output_spec(self, inputs):
        raise NotImplementedError(
            f"{type(self).__name__} runs on tf tensors only; call it on "
            f"tf.Tensor or tf.RaggedTensor inputs."
        )
