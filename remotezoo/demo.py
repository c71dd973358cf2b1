"""A tour of remotezoo on its built-in example source, with no network:
register -> list -> download -> load -> use -> delete.

    python -m remotezoo.demo            # in a temporary REMOTEZOO_HOME
    python -m remotezoo.demo --keep     # in your REMOTEZOO_HOME, and keep the source
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Optional

EXAMPLE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "example")


def tour(keep: bool = False) -> None:
    import remotezoo as rz

    def step(text: str) -> None:
        print(f"\n== {text}")

    step(f"remotezoo {rz.__version__} on {rz.library_versions()}; home {rz.home()}")
    step(f"register_zoo_model_source({EXAMPLE_SOURCE!r})")
    rz.register_zoo_model_source(EXAMPLE_SOURCE)
    print("sources:", rz.list_zoo_model_sources())
    step("list_zoo_models(tags='example')")
    for name in rz.list_zoo_models(tags="example"):
        print("  ", name)
    name = "example/two-moons-classifier"
    model = rz.get_zoo_model(name)
    print(f"latest version of {name}: {model.version} ({model.description})")
    step(f"download_zoo_model({name!r})  -- the source's download_model() trains it")
    start = time.perf_counter()
    model, path = rz.download_zoo_model(name)
    print(
        f"{model.name} -> {path} ({os.path.getsize(path)} bytes, "
        f"{time.perf_counter() - start:.2f}s)"
    )
    step(f"load_zoo_model({name!r}, threshold=0.5)")
    clf = rz.load_zoo_model(name, threshold=0.5)
    print("loaded:", type(clf).__name__, "from", type(clf).__module__)
    step("use it")
    points = [(0.0, 1.0), (1.0, -0.5), (-0.8, 0.4), (2.0, 0.3)]
    print("predict", points, "->", clf.predict(points))
    print(f"accuracy on fresh two-moons points: {clf.accuracy():.1%}")
    old = rz.load_zoo_model(f"{name}@1.0")
    print(f"{name}@1.0 accuracy: {old.accuracy():.1%}")
    print("downloaded:", sorted(rz.list_downloaded_zoo_models()))
    if keep:
        return
    step(f"delete_zoo_model({name!r}); delete_zoo_model_source(...)")
    rz.delete_zoo_model(name)
    rz.delete_zoo_model_source(EXAMPLE_SOURCE)
    print(
        "sources:",
        rz.list_zoo_model_sources(),
        "downloaded:",
        sorted(rz.list_downloaded_zoo_models()),
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m remotezoo.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--keep", action="store_true", help="use REMOTEZOO_HOME and keep what is registered"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("REMOTEZOO_NO_PROGRESS", "1")
    if args.keep:
        tour(keep=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="remotezoo-demo-") as tmp:
        os.environ["REMOTEZOO_HOME"] = tmp
        tour()
    print("\nDone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
