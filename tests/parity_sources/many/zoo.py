"""The parity source's code, imported by its __init__.py as a sibling module."""

import json
import os

FOLDER_MODELS = ("parity/theta",)


def write_weights(model_name, model_path):
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    weights = {"name": model_name, "scale": 3}
    if model_name.split("@")[0] in FOLDER_MODELS:
        os.makedirs(model_path, exist_ok=True)  # FiftyOne downloads a folder model again and again
        with open(os.path.join(model_path, "weights.json"), "w") as f:
            json.dump(weights, f)
        with open(os.path.join(model_path, "config.json"), "w") as f:
            json.dump({"layers": 2}, f)
        return
    with open(model_path, "w") as f:
        json.dump(weights, f)


class Scaler:
    def __init__(self, model_name, model_path, offset=0):
        self.model_name, self.offset = model_name, offset
        weights = os.path.join(model_path, "weights.json") if os.path.isdir(model_path) else model_path
        with open(weights) as f:
            self.scale = json.load(f)["scale"]

    def predict(self, x):
        return x * self.scale + self.offset
