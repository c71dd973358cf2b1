"""The second source of the FiftyOne parity suite, with the code in __init__.py itself."""

import json
import os


def download_model(model_name, model_path):
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    with open(model_path, "w") as f:
        json.dump({"name": model_name, "scale": 5}, f)


class Model:
    def __init__(self, model_path):
        with open(model_path) as f:
            self.scale = json.load(f)["scale"]

    def predict(self, x):
        return x * self.scale


def load_model(model_name, model_path, **kwargs):
    return Model(model_path)
