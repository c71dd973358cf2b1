"""A source's tree and models stay in place while code runs from them.

Registering a fetched source again makes a new generation of its tree; deleting it removes the
tree. Neither may pull files from under a ``load_model`` running in another process: the old
generation stays until its last user returns, and then goes. Deleting a model waits for loads
of it that are running. Each test holds a real load open in a subprocess (its ``load_model``
waits at a gate) while the main process registers, deletes, and checks the disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from helpers.hostile_archives import Entry, compress, file, tar_bytes
from helpers.servers import leftovers, wait_until
from helpers.zoo import model, write_source

import remotezoo as rz

ROOT = Path(__file__).resolve().parent.parent

# load_model waits at the gate, then reads a file of its own tree and the model's weights.
GATED_INIT = """
import json, os, time

HERE = os.path.dirname(os.path.abspath(__file__))

def download_model(model_name, model_path):
    with open(model_path, "w") as f:
        json.dump({"scale": 3}, f)

def load_model(model_name, model_path, **kwargs):
    gate = os.environ.get("RZ_TEST_GATE")
    if gate:
        open(gate + ".entered", "w").close()
        while not os.path.exists(gate + ".open"):
            time.sleep(0.01)
    with open(os.path.join(HERE, "release.txt")) as f:
        release = f.read()
    with open(model_path) as f:
        return release, json.load(f)["scale"]
"""

LOADER = """
import sys
import remotezoo as rz
print(*rz.load_zoo_model(sys.argv[1], model_name="gated"))
"""


def archive(release: str) -> bytes:
    manifest = json.dumps({"name": "acme/gated", "models": [model("gated")]}).encode()
    return compress(
        tar_bytes(
            [
                Entry("top", "dir", mode=0o755),
                file("top/manifest.json", manifest),
                file("top/__init__.py", GATED_INIT.encode()),
                file("top/release.txt", release.encode()),
            ]
        ),
        "tar.gz",
    )


class Gate:
    """A load_model held open in a subprocess until open() is called."""

    def __init__(self, tmp_path: Path, spec: str) -> None:
        self.path = tmp_path / "gate"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(LOADER), spec],
            cwd=ROOT,
            env=dict(os.environ, RZ_TEST_GATE=str(self.path)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert wait_until(
            lambda: Path(f"{self.path}.entered").exists() or self.proc.poll() is not None, 30
        )
        assert self.proc.poll() is None, self.proc.communicate()[1]

    def kill(self) -> None:
        """SIGKILL the loader: its load never returns."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def open(self) -> str:
        Path(f"{self.path}.open").touch()
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return out.strip()


def generations() -> list[str]:
    """The tree generations of the one registered fetched source, by name."""
    return sorted(
        p.name for slug in (Path(rz.home()) / "sources").iterdir() for p in slug.iterdir()
    )


@pytest.fixture
def gated_source(http_server):
    route = http_server.serve_bytes("/gated.tar.gz", archive("v1"))
    spec = http_server.url("/gated.tar.gz")
    rz.register_zoo_model_source(spec)
    rz.download_zoo_model(spec, model_name="gated")
    return route, spec


def test_registering_again_keeps_the_old_tree_until_its_load_returns(gated_source, tmp_path):
    route, spec = gated_source
    (old,) = generations()
    gate = Gate(tmp_path, spec)
    route.data = archive("v2")
    rz.register_zoo_model_source(spec, overwrite=True)  # does not wait for the running load
    assert gate.proc.poll() is None
    assert len(generations()) == 2 and old in generations()
    assert rz.load_zoo_model(spec, model_name="gated") == ("v2", 3)  # new code for new loads
    assert gate.open() == "v1 3"  # the running load kept reading the tree it started from
    assert old not in generations() and len(generations()) == 1
    assert leftovers(rz.home()) == []


def test_deleting_a_source_waits_for_its_running_load_then_removes_everything(
    gated_source, tmp_path
):
    _, spec = gated_source
    gate = Gate(tmp_path, spec)
    deleter = threading.Thread(target=rz.delete_zoo_model_source, args=(spec,))
    deleter.start()
    assert wait_until(lambda: rz.list_zoo_model_sources() == [], 10)  # unregistered at once
    deleter.join(0.5)
    assert deleter.is_alive()  # but the model being loaded stays until the load returns
    assert gate.open() == "v1 3"
    deleter.join(10)
    assert not deleter.is_alive()
    assert list((Path(rz.home()) / "sources").iterdir()) == []
    assert list((Path(rz.home()) / "models").iterdir()) == []
    assert leftovers(rz.home()) == []


def test_deleting_a_model_waits_for_its_running_load(tmp_path):
    src = write_source(tmp_path / "local", [model("gated")], init=GATED_INIT, name="acme/gated")
    (src / "release.txt").write_text("local")
    rz.register_zoo_model_source(str(src))
    rz.download_zoo_model("gated")
    gate = Gate(tmp_path, str(src))
    deleter = threading.Thread(target=rz.delete_zoo_model, args=("gated",))
    deleter.start()
    deleter.join(0.5)
    assert deleter.is_alive() and rz.is_zoo_model_downloaded("gated")
    assert gate.open() == "local 3"
    deleter.join(10)
    assert not deleter.is_alive() and not rz.is_zoo_model_downloaded("gated")


def test_a_killed_user_does_not_keep_an_old_tree(gated_source, tmp_path):
    route, spec = gated_source
    (old,) = generations()
    Gate(tmp_path, spec).kill()
    route.data = archive("v2")
    rz.register_zoo_model_source(spec, overwrite=True)
    assert len(generations()) == 1 and old not in generations()
    assert rz.load_zoo_model(spec, model_name="gated") == ("v2", 3)
    assert leftovers(rz.home()) == []


def test_a_tree_retired_while_used_goes_with_the_next_registration_if_its_user_was_killed(
    gated_source, tmp_path
):
    route, spec = gated_source
    (old,) = generations()
    gate = Gate(tmp_path, spec)
    route.data = archive("v2")
    rz.register_zoo_model_source(spec, overwrite=True)
    assert old in generations()  # retired, in use
    gate.kill()  # its last user never returns
    route.data = archive("v3")
    rz.register_zoo_model_source(spec, overwrite=True)
    assert len(generations()) == 1 and old not in generations()
    assert rz.load_zoo_model(spec, model_name="gated") == ("v3", 3)
    assert leftovers(rz.home()) == []


# load_model asks remotezoo for its own model: a download that finds it downloaded, and a
# nested load. Neither may wait for the lock the outer load holds.
NESTED_INIT = """
import json
import remotezoo as rz

def download_model(model_name, model_path):
    with open(model_path, "w") as f:
        json.dump({"scale": 3}, f)

def load_model(model_name, model_path, depth=0, **kwargs):
    assert rz.download_zoo_model(model_name)[1] == model_path
    inner = rz.load_zoo_model(model_name, depth=depth + 1, cache=False) if depth == 0 else None
    return depth, inner
"""


def test_a_source_may_ask_for_its_own_model_while_loading_it(tmp_path):
    src = write_source(tmp_path / "nested", [model("nested")], init=NESTED_INIT, name="acme/nested")
    code = f"import remotezoo as rz; rz.register_zoo_model_source({str(src)!r}); print(rz.load_zoo_model('nested', cache=False))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(0, (1, None))"
