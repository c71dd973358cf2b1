"""A source for the FiftyOne parity suite: download_model writes a small JSON file (or, for a
folder model, a directory); load_model returns a Scaler that reads it."""

from .zoo import Scaler, write_weights  # a sibling module, as real sources have


def download_model(model_name, model_path):
    write_weights(model_name, model_path)


def load_model(model_name, model_path, **kwargs):
    return Scaler(model_name, model_path, **kwargs)
