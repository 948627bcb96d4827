"""The model registry: `{type: lstm_text_classifier, ...}` entries build models through it."""

import keras

from nlp_lstm.config.registry import Registry

MODELS = Registry("model")


def register_model(name):
    """Registers a model class under `name` and as a Keras serializable object
    (package nlp_lstm)."""

    def decorator(cls):
        cls = keras.saving.register_keras_serializable(package="nlp_lstm", name=cls.__name__)(cls)
        return MODELS.register(name)(cls)

    return decorator
