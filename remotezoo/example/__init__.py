"""remotezoo's built-in example source: a real (tiny) model that needs no network.

``download_model`` trains a logistic regression on random Fourier features of the two-moons
toy data set (generated with a fixed seed, so the "download" is reproducible) and writes the
weights to ``model_path``; ``load_model`` returns a classifier that uses them. The same
contract as any FiftyOne remote zoo source, so it doubles as a template.
"""

import json
import math
import os
import random
from typing import Any, Sequence

Point = Sequence[float]


def _two_moons(n: int, seed: int) -> tuple[list[Point], list[int]]:
    rng = random.Random(seed)
    points: list[Point] = []
    labels: list[int] = []
    for i in range(n):
        t = rng.uniform(0, math.pi)
        if i % 2:
            x, y = math.cos(t), math.sin(t)
        else:
            x, y = 1 - math.cos(t), 0.5 - math.sin(t)
        points.append((x + rng.gauss(0, 0.1), y + rng.gauss(0, 0.1)))
        labels.append(i % 2)
    return points, labels


def _features(point: Point, projections: Sequence[Sequence[float]]) -> list[float]:
    x, y = point
    return [math.cos(a * x + b * y + c) for a, b, c in projections] + [1.0]


def _training(model_name: str) -> dict[str, Any]:
    manifest = os.path.join(os.path.dirname(__file__), "manifest.json")
    with open(manifest) as f:
        for entry in json.load(f)["models"]:
            if model_name == "{}@{}".format(entry["base_name"], entry["version"]):
                training: dict[str, Any] = entry["training"]
                return training
    raise ValueError("unknown model " + model_name)


def download_model(model_name: str, model_path: str) -> None:
    """Train the model and write its weights to model_path (the plugin contract)."""
    params = _training(model_name)
    rng = random.Random(0)
    projections = [(rng.gauss(0, 2), rng.gauss(0, 2), rng.uniform(0, 2 * math.pi))
                   for _ in range(params["features"])]
    points, labels = _two_moons(400, seed=1)
    feats = [_features(p, projections) for p in points]
    weights = [0.0] * len(feats[0])
    for _ in range(params["epochs"]):
        grad = [0.0] * len(weights)
        for f, label in zip(feats, labels):
            z = sum(w * v for w, v in zip(weights, f))
            err = 1 / (1 + math.exp(-max(min(z, 30), -30))) - label
            for i, v in enumerate(f):
                grad[i] += err * v
        weights = [w - 0.5 * g / len(feats) for w, g in zip(weights, grad)]
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    with open(model_path, "w") as out:
        json.dump({"model": model_name, "projections": projections, "weights": weights}, out)


class TwoMoonsClassifier:
    """Classifies 2-D points into the two moons (0 or 1)."""

    def __init__(self, path: str, threshold: float = 0.5) -> None:
        with open(path) as f:
            data = json.load(f)
        self.name: str = data["model"]
        self.projections: list[list[float]] = data["projections"]
        self.weights: list[float] = data["weights"]
        self.threshold = threshold

    def predict_proba(self, point: Point) -> float:
        z = sum(w * v for w, v in zip(self.weights, _features(point, self.projections)))
        return 1 / (1 + math.exp(-max(min(z, 30.0), -30.0)))

    def predict(self, points: Sequence[Point]) -> list[int]:
        return [int(self.predict_proba(p) >= self.threshold) for p in points]

    def accuracy(self, n: int = 200, seed: int = 7) -> float:
        points, labels = _two_moons(n, seed)
        return sum(p == label for p, label in zip(self.predict(points), labels)) / n


def load_model(model_name: str, model_path: str, **kwargs: Any) -> TwoMoonsClassifier:
    """Return the classifier (the plugin contract); kwargs: threshold."""
    return TwoMoonsClassifier(model_path, **kwargs)
