"""A registry larger than one read buffer (64 KiB) must load: found by benchmarks/run.py."""

from __future__ import annotations

import os
from pathlib import Path

from helpers.zoo import model, write_source

import remotezoo as rz


def test_registry_over_64_kib_loads_and_lists(tmp_path: Path) -> None:
    names = []
    for s in range(30):
        models = [
            model(f"big/s{s:02d}-model-{m:02d}", "1.0", tags=["bench"], license="MIT")
            for m in range(20)
        ]
        names += [f"big/s{s:02d}-model-{m:02d}@1.0" for m in range(20)]
        rz.register_zoo_model_source(
            str(write_source(tmp_path / f"src{s:02d}", models, name=f"big/src{s:02d}"))
        )
    index = Path(rz.home()) / "registry.json"
    assert index.stat().st_size > 64 * 1024
    assert rz.list_zoo_models() == sorted(names)
    assert len(rz.list_zoo_model_sources()) == 30


def test_registry_of_exactly_a_power_of_two_size_loads(tmp_path: Path) -> None:
    # rz_read_fd grows its buffer in powers of two up to the file size: a file whose size is
    # exactly where the buffer stops growing is read to EOF, not refused as too large.
    rz.register_zoo_model_source(
        str(write_source(tmp_path / "one", [model("solo", "1.0")], name="solo"))
    )
    index = Path(rz.home()) / "registry.json"
    text = index.read_text()
    pad = 128 * 1024 - len(text.encode())
    assert pad > 0 and text.endswith("}")
    index.write_text(text[:-1] + " " * pad + "}")
    os.utime(index, (1, 1))  # differ from the cached stamp
    assert index.stat().st_size == 128 * 1024
    assert rz.list_zoo_models() == ["solo@1.0"]
