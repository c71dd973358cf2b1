"""The on-disk registry keeps its promises against hostile names, killed processes, tampered
files and busy locks (issues 12 and 13):

- one models folder per source, spelled one way: manifest names with empty, '.' or '..' parts are
  refused, two sources never share a folder, a second source with a taken name is refused (or
  replaces the first with overwrite=True), nested names stay apart;
- a model is removed by moving it aside first, so SIGKILL at any point leaves it complete or not
  downloaded, and what a killed removal left is swept by the next call;
- re-registering keeps a downloaded model only when its manifest entry is unchanged; deleting a
  source deletes its whole models folder;
- a declared sha256 means something for links and directories; a manager archive writes only its
  own model's path;
- every path field of registry.json is checked; lock waits end on Ctrl-C or after
  REMOTEZOO_LOCK_TIMEOUT; lock files do not pile up; a 64-digit sha fits.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Optional

import pytest
from helpers.fake_github import FakeGitHub
from helpers.servers import wait_until
from helpers.zoo import SIMPLE_INIT, calls, model, write_source

import remotezoo as rz

ROOT = Path(__file__).resolve().parent.parent
TEMP_MARKS = (".tmp-", ".rz-", ".part-")


@pytest.fixture
def log(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "calls.log"
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(path))
    return path


def home() -> Path:
    return Path(rz.home())


def temps() -> list[str]:
    return [str(p) for p in home().rglob("*") if any(m in p.name for m in TEMP_MARKS)]


def registry() -> dict:
    return json.loads((home() / "registry.json").read_text())


def run_python(code: str, env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=dict(os.environ, **(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tar_gz(entries: dict[str, Optional[bytes]]) -> bytes:
    """A .tar.gz of entries (None: a directory)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---- one folder per source, spelled one way (12.3, 13.7, 13.9) ------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "acme//zoo",
        "./acme/zoo",
        "acme/./zoo",
        "acme/zoo/",
        "acme/zoo/.",
        "acme/../acme/zoo",
        "acme/.rz-del-x",
    ],
)
def test_a_manifest_name_spelled_another_way_is_refused(name, tmp_path, log):
    first = write_source(tmp_path / "a", [model("det")], name="acme/zoo")
    rz.register_zoo_model_source(str(first))
    rz.download_zoo_model("det")
    other = write_source(tmp_path / "b", [model("other")], name=name)
    with pytest.raises(rz.ManifestError) as info:
        rz.register_zoo_model_source(str(other))
    assert info.value.field == "name" and str(other) in str(info.value)
    assert rz.list_zoo_model_sources() == [f"file://{first}"]


@pytest.mark.parametrize(
    "base_filename", ["./det.json", "sub//det.json", "sub/./det.json", "det.json/", ".rz-content"]
)
def test_a_base_filename_spelled_another_way_is_refused(base_filename, tmp_path):
    src = write_source(tmp_path / "a", [model("det", base_filename=base_filename)], name="acme/zoo")
    with pytest.raises(rz.ManifestError) as info:
        rz.register_zoo_model_source(str(src))
    assert info.value.field == "base_filename"


@pytest.mark.parametrize("base_name", ["..", ".", ".rz-trash"])
def test_a_model_without_base_filename_gets_a_path_of_its_own(base_name, tmp_path, log):
    src = write_source(tmp_path / "a", [{"base_name": base_name}, model("det")], name="acme/zoo")
    rz.register_zoo_model_source(str(src))
    assert not rz.is_zoo_model_downloaded(base_name)  # its path is not the folder or its parent
    _, path = rz.download_zoo_model(base_name)
    assert Path(path).is_file() and Path(path).parent == home() / "models" / "acme" / "zoo"
    rz.download_zoo_model("det")
    rz.delete_zoo_model(base_name)
    assert rz.is_zoo_model_downloaded("det")


def test_long_names_without_base_filename_never_share_a_file(tmp_path, log):
    stem = "x" * 600
    src = write_source(
        tmp_path / "a", [{"base_name": stem + "a"}, {"base_name": stem + "b"}], name="acme/zoo"
    )
    rz.register_zoo_model_source(str(src))
    _, first = rz.download_zoo_model(stem + "a")
    assert not rz.is_zoo_model_downloaded(stem + "b")
    _, second = rz.download_zoo_model(stem + "b")
    assert first != second and len(os.path.basename(second)) < 256


def test_a_second_source_with_the_same_name_is_refused_and_overwrite_replaces_it(tmp_path, log):
    first = write_source(tmp_path / "zip", [model("det"), model("seg")], name="acme/zoo")
    second = write_source(tmp_path / "fork", [model("det", description="fork")], name="acme/zoo")
    rz.register_zoo_model_source(str(first))
    _, path = rz.download_zoo_model("det")
    with pytest.raises(rz.SourceError) as info:
        rz.register_zoo_model_source(str(second))
    assert f"file://{first}" in str(info.value) and f"file://{second}" in str(info.value)
    assert isinstance(info.value, ValueError) and "overwrite=True" in str(info.value)
    assert rz.list_zoo_model_sources() == [f"file://{first}"] and Path(path).exists()
    # Case does not make another folder either (a case-insensitive disk would share it).
    upper = write_source(tmp_path / "upper", [model("up")], name="ACME/Zoo")
    with pytest.raises(rz.SourceError, match="already provided by"):
        rz.register_zoo_model_source(str(upper))
    rz.register_zoo_model_source(str(second), overwrite=True)
    assert rz.list_zoo_model_sources() == [f"file://{second}"]
    assert rz.list_zoo_models() == ["det"]
    assert (
        not rz.is_zoo_model_downloaded("det") and not Path(path).exists()
    )  # the first's models went
    _, again = rz.download_zoo_model("det")
    assert again == path and calls(log).count("download:det") == 2
    assert temps() == []


def test_nested_names_of_two_sources_never_delete_each_others_models(tmp_path, log):
    outer = write_source(tmp_path / "outer", [model("o", base_filename="zoo/w.json")], name="acme")
    inner = write_source(tmp_path / "inner", [model("i", base_filename="w.json")], name="acme/zoo")
    rz.register_zoo_model_source(str(outer))
    rz.register_zoo_model_source(str(inner))
    _, o = rz.download_zoo_model("o")
    assert not rz.is_zoo_model_downloaded("i")  # not the same file, though the names say so
    _, i = rz.download_zoo_model("i")
    assert o != i and Path(o).exists() and Path(i).exists()
    # The inner name lives in a folder of its own, but it is still taken.
    third = write_source(tmp_path / "third", [model("t")], name="acme/zoo")
    with pytest.raises(rz.SourceError, match="already provided by"):
        rz.register_zoo_model_source(str(third))
    rz.delete_zoo_model_source(str(inner))
    assert Path(o).exists()
    rz.register_zoo_model_source(str(inner))
    _, i = rz.download_zoo_model("i")
    rz.delete_zoo_model_source(str(outer))
    assert Path(i).exists() and rz.is_zoo_model_downloaded("i")
    # The other way round: the inner name first.
    rz.register_zoo_model_source(str(outer))
    _, o = rz.download_zoo_model("o")
    rz.delete_zoo_model_source(str(inner))
    assert Path(o).exists() and rz.is_zoo_model_downloaded("o")


# ---- deleting a source deletes its whole folder; re-registering keeps only unchanged (13.8/9)

EXTRAS_INIT = SIMPLE_INIT.replace(
    "def download_model(model_name, model_path):",
    "def download_model(model_name, model_path):\n"
    "    os.makedirs(os.path.dirname(model_path), exist_ok=True)\n"
    "    with open(os.path.join(os.path.dirname(model_path), 'vocab.txt'), 'w') as f:\n"
    "        f.write('tokens')",
)


def test_deleting_a_source_deletes_its_whole_models_folder(tmp_path, log):
    src = write_source(tmp_path / "a", [model("det")], init=EXTRAS_INIT, name="acme/zoo")
    keep = write_source(tmp_path / "b", [model("keep")], name="acme/other")
    rz.register_zoo_model_source(str(src))
    rz.register_zoo_model_source(str(keep))
    _, path = rz.download_zoo_model("det")
    _, kept = rz.download_zoo_model("keep")
    assert (Path(path).parent / "vocab.txt").read_text() == "tokens"  # an extra file beside it
    rz.delete_zoo_model_source(str(src))
    assert not (home() / "models" / "acme" / "zoo").exists()
    assert Path(kept).exists() and temps() == []
    assert "doomed" not in registry() or registry()["doomed"] == []


def archive_source(models: list[dict], name: str = "acme/remote", init: str = SIMPLE_INIT) -> bytes:
    manifest = json.dumps({"name": name, "models": models}).encode()
    return tar_gz({"top": None, "top/manifest.json": manifest, "top/__init__.py": init.encode()})


def test_registering_again_keeps_only_models_whose_entry_is_unchanged(http_server, log):
    route = http_server.serve_bytes(
        "/src.tar.gz",
        archive_source(
            [
                model("same"),
                model("url", url="https://a"),
                model("sha", size_bytes=1),
                model("described"),
                model("dropped"),
            ]
        ),
    )
    spec = http_server.url("/src.tar.gz")
    rz.register_zoo_model_source(spec)
    paths = {
        name: rz.download_zoo_model(spec, model_name=name)[1]
        for name in ("same", "url", "sha", "described", "dropped")
    }
    route.data = archive_source(
        [
            model("same"),
            model("url", url="https://b"),
            model("sha", size_bytes=2),
            model("described", description="now with words", tags=["new"]),
        ]
    )
    rz.register_zoo_model_source(spec, overwrite=True)
    assert rz.is_zoo_model_downloaded("same") and rz.is_zoo_model_downloaded("described")
    assert not rz.is_zoo_model_downloaded("url") and not rz.is_zoo_model_downloaded("sha")
    assert not Path(paths["url"]).exists() and not Path(paths["dropped"]).exists()
    rz.download_zoo_model("url")
    assert calls(log).count("download:url") == 2 and calls(log).count("download:same") == 1
    assert temps() == []


def test_editing_a_local_manifest_drops_the_models_it_changed(tmp_path, log):
    src = write_source(tmp_path / "a", [model("a"), model("b")], name="acme/zoo")
    rz.register_zoo_model_source(str(src))
    rz.download_zoo_model("a")
    rz.download_zoo_model("b")
    write_source(
        src, [model("a", tags=["x"]), model("b", sha256="0" * 64)], init=None, name="acme/zoo"
    )
    assert rz.is_zoo_model_downloaded("a") and not rz.is_zoo_model_downloaded("b")


# ---- a declared sha256 for links and directories (12.5) ---------------------------------------

LINK_INIT = """
import os
def download_model(model_name, model_path):
    folder = os.path.dirname(model_path)
    if model_name == "outside":
        os.symlink(os.environ["RZ_TEST_OUTSIDE"], model_path)
    elif model_name == "dir":
        os.makedirs(model_path)
        open(os.path.join(model_path, "w.bin"), "wb").write(b"weights")
    else:  # a link to an extra file written beside it
        open(os.path.join(folder, "real-" + model_name), "wb").write(b"weights")
        os.symlink("real-" + model_name, model_path)
def load_model(model_name, model_path, **kwargs):
    return open(model_path, "rb").read()
"""


def test_a_declared_sha256_covers_links_and_refuses_directories(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"weights")
    monkeypatch.setenv("RZ_TEST_OUTSIDE", str(secret))
    good = hashlib.sha256(b"weights").hexdigest()
    src = write_source(
        tmp_path / "a",
        [
            model("outside"),
            model("linked", sha256=good),
            model("badlink", sha256="0" * 64),
            model("dir", sha256=good),
            model("plaindir"),
        ],
        init=LINK_INIT.replace('model_name == "dir"', 'model_name in ("dir", "plaindir")'),
        name="acme/zoo",
    )
    rz.register_zoo_model_source(str(src))
    with pytest.raises(rz.SourceError, match="outside the source's models folder"):
        rz.download_zoo_model("outside")
    assert not rz.is_zoo_model_downloaded("outside")
    assert rz.load_zoo_model("linked") == b"weights"
    with pytest.raises(rz.ChecksumError):
        rz.download_zoo_model("badlink")
    assert not rz.is_zoo_model_downloaded("badlink")
    with pytest.raises(rz.ChecksumError, match="directory"):
        rz.download_zoo_model("dir")
    assert not rz.is_zoo_model_downloaded("dir")
    assert Path(rz.download_zoo_model("plaindir")[1], "w.bin").read_bytes() == b"weights"
    assert temps() == []


# ---- a manager archive writes only its own model's path (12.6) --------------------------------


def manager(url: str, base_filename: str, name: str, **config) -> dict:
    return {
        "base_name": name,
        "base_filename": base_filename,
        "manager": {
            "type": "eta.core.models.ETAModelManager",
            "config": {"url": url, "extract_archive": True, **config},
        },
    }


LOADS_PATH = "def load_model(model_name, model_path, **kwargs):\n    return model_path\n"


def test_a_manager_archive_never_writes_another_models_path(http_server, tmp_path):
    weights = os.urandom(1000)
    http_server.serve_bytes("/other.bin", weights)
    http_server.serve_bytes(
        "/bundle.tar.gz",
        tar_gz({"bundle": None, "bundle/w.bin": b"new", "other.bin": b"EVIL", "README": b"x"}),
    )
    src = write_source(
        tmp_path / "a",
        [
            {
                "base_name": "other",
                "base_filename": "other.bin",
                "sha256": hashlib.sha256(weights).hexdigest(),
                "manager": {"config": {"url": http_server.url("/other.bin")}},
            },
            manager(http_server.url("/bundle.tar.gz"), "bundle", "bundle"),
        ],
        init=LOADS_PATH,
        name="acme/zoo",
    )
    rz.register_zoo_model_source(str(src))
    _, other = rz.download_zoo_model("other")
    _, bundle = rz.download_zoo_model("bundle")
    assert Path(other).read_bytes() == weights  # untouched by the archive's other.bin
    assert (Path(bundle) / "w.bin").read_bytes() == b"new"
    assert sorted(os.listdir(Path(bundle).parent)) == ["bundle", "other.bin"]


def test_fiftyone_archive_layouts_work(http_server, tmp_path):
    # FiftyOne's layout: base_filename names the archive, which unpacks to its stem.
    http_server.serve_bytes("/effdet.tar", tar_gz({"effdet": None, "effdet/saved_model.pb": b"pb"}))
    # No entry named like the model: the whole content is the model directory.
    http_server.serve_bytes("/flat.tar.gz", tar_gz({"a.bin": b"a", "b.bin": b"b"}))
    src = write_source(
        tmp_path / "a",
        [
            manager(http_server.url("/effdet.tar"), "effdet.tar", "effdet", delete_archive=True),
            manager(http_server.url("/flat.tar.gz"), "flat", "flat"),
        ],
        init=LOADS_PATH,
        name="acme/zoo",
    )
    rz.register_zoo_model_source(str(src))
    _, path = rz.download_zoo_model("effdet")
    assert path.endswith("/effdet.tar") and rz.load_zoo_model("effdet") == path
    assert Path(path[: -len(".tar")], "saved_model.pb").read_bytes() == b"pb"  # eta's split_archive
    assert Path(path, "saved_model.pb").read_bytes() == b"pb"  # and the path itself leads there
    assert rz.is_zoo_model_downloaded("effdet")
    rz.delete_zoo_model("effdet")
    assert not Path(path).exists() and not Path(path[: -len(".tar")]).exists()
    _, flat = rz.download_zoo_model("flat")
    assert sorted(os.listdir(flat)) == ["a.bin", "b.bin"]
    assert temps() == []


# ---- registry.json fields are checked (12.9) ----------------------------------------------------


@pytest.mark.parametrize(
    "field,value",
    [
        ("slug", "../../victim"),
        ("models_subdir", "../../victim"),
        ("models_subdir", "/abs/victim"),
        ("filename", "../../../victim/x"),
        ("tree", "sources/../../victim/tree"),
        ("generation", "../x"),
        ("module", "os"),
        ("dir", "../x"),
        ("doomed", "../../victim"),
    ],
)
def test_tampered_registry_path_fields_are_refused(field, value, http_server, tmp_path, log):
    http_server.serve_bytes("/src.tar.gz", archive_source([model("m")]))
    spec = http_server.url("/src.tar.gz")
    rz.register_zoo_model_source(spec)
    rz.download_zoo_model("m")
    victim = home().parent / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "keep.txt").write_text("precious")
    index = registry()
    source = index["sources"][0]
    manifest = source["manifests"][0]
    if field in ("slug", "tree", "generation"):
        source[field] = value
    elif field == "filename":
        manifest["models"][0][field] = value
    elif field == "doomed":
        index["doomed"] = [{"folder": value}]
    else:
        manifest[field] = value
    (home() / "registry.json").write_text(json.dumps(index))
    (home() / "registry.names").unlink(missing_ok=True)
    for call in (
        lambda: rz.delete_zoo_model_source(spec),
        lambda: rz.delete_zoo_model("m"),
        rz.list_zoo_models,
        lambda: rz.register_zoo_model_source(spec, overwrite=True),
    ):
        with pytest.raises(rz.SourceError, match="registry .* is damaged"):
            call()
    assert (victim / "keep.txt").read_text() == "precious"


def test_a_tampered_registry_cannot_make_two_sources_share_a_folder(tmp_path, log):
    a = write_source(tmp_path / "a", [model("m")], name="acme/a")
    b = write_source(tmp_path / "b", [model("m2", base_filename="m.json")], name="acme/b")
    rz.register_zoo_model_source(str(a))
    rz.register_zoo_model_source(str(b))
    rz.download_zoo_model("m")
    index = registry()
    index["sources"][1]["manifests"][0]["models_subdir"] = "ACME/a"
    (home() / "registry.json").write_text(json.dumps(index))
    with pytest.raises(rz.SourceError, match="damaged"):
        rz.is_zoo_model_downloaded("m2")


# ---- lock waits: Ctrl-C, a time limit, and no lock files left (12.12, 12.14) ---------------------

HOLD_INIT = SIMPLE_INIT.replace(
    "def download_model(model_name, model_path):",
    "def download_model(model_name, model_path):\n"
    "    import time\n"
    "    gate = os.environ.get('RZ_TEST_HOLD')\n"
    "    if gate:\n"
    "        open(gate, 'w').close()\n"
    "        while os.path.exists(gate):\n"
    "            time.sleep(0.02)",
)


@pytest.fixture
def holder(tmp_path, log):
    """A process inside download_model of 'held' (holding its locks) until the gate file goes."""
    src = write_source(tmp_path / "src", [model("held")], init=HOLD_INIT, name="acme/held")
    rz.register_zoo_model_source(str(src))
    gate = tmp_path / "gate"
    proc = run_python(
        "import remotezoo as rz; rz.download_zoo_model('held')", {"RZ_TEST_HOLD": str(gate)}
    )
    assert wait_until(gate.exists, 30), proc.communicate()
    yield proc, gate
    gate.unlink(missing_ok=True)
    proc.communicate(timeout=30)


def finish(proc: subprocess.Popen, timeout: float, failure: str) -> tuple[str, str]:
    """proc's output once it ends within timeout seconds; else it is killed and the test fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(failure)


def test_ctrl_c_stops_a_wait_for_another_process_lock(holder):
    proc, gate = holder
    waiter = run_python("""
        import remotezoo as rz
        print("waiting", flush=True)
        try:
            rz.download_zoo_model('held')
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    assert waiter.stdout.readline().strip() == "waiting"
    time.sleep(1.0)  # well inside the wait
    assert waiter.poll() is None
    waiter.send_signal(signal.SIGINT)
    start = time.monotonic()
    out, err = finish(waiter, 20, "Ctrl-C did not stop the wait")
    assert time.monotonic() - start < 5 and "interrupted" in out, (out, err)
    assert proc.poll() is None  # the holder is untouched


def test_a_lock_held_too_long_is_an_error_naming_the_holder(holder):
    proc, gate = holder
    waiter = run_python(
        """
        import remotezoo as rz
        try:
            rz.download_zoo_model('held')
        except TimeoutError as exc:
            print(type(exc).__name__, exc)
    """,
        {"REMOTEZOO_LOCK_TIMEOUT": "1"},
    )
    out, err = finish(waiter, 30, "the wait for the lock never ended")
    assert out.startswith("TimeoutError"), (out, err)
    assert str(proc.pid) in out and "REMOTEZOO_LOCK_TIMEOUT" in out


MUTEX_INIT = """
import os, time
def download_model(model_name, model_path):
    log = os.environ["RZ_TEST_MUTEX"]
    with open(log, "a") as f:
        f.write("in %d\\n" % os.getpid())
    time.sleep(0.005)
    with open(log, "a") as f:
        f.write("out %d\\n" % os.getpid())
    open(model_path, "w").write("x")
def load_model(model_name, model_path, **kwargs):
    return None
"""


def test_lock_files_are_removed_and_still_exclude(tmp_path, monkeypatch):
    mutex = tmp_path / "mutex.log"
    monkeypatch.setenv("RZ_TEST_MUTEX", str(mutex))
    src = write_source(tmp_path / "src", [model("m")], init=MUTEX_INIT, name="acme/mutex")
    rz.register_zoo_model_source(str(src))
    code = "import remotezoo as rz\nfor _ in range(15): rz.download_zoo_model('m', overwrite=True)"
    procs = [run_python(code) for _ in range(6)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    lines = mutex.read_text().split()
    events = list(zip(lines[::2], lines[1::2]))
    assert len(events) == 6 * 15 * 2
    for i in range(0, len(events), 2):  # every download ran alone: in, out, in, out, ...
        assert events[i][0] == "in" and events[i + 1] == ("out", events[i][1]), events[i : i + 2]
    assert list((home() / "locks").iterdir()) == []


# ---- a 64-digit sha (12.15) ---------------------------------------------------------------------


def test_a_sha256_commit_id_is_recorded_whole(http_server, http_server2, monkeypatch, log):
    gh = FakeGitHub(http_server, http_server2)
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_SERVER_URL", gh.api_url)
    files = {
        "manifest.json": json.dumps({"name": "acme/sha", "models": [model("m")]}),
        "__init__.py": SIMPLE_INIT,
    }
    repo = gh.add_repo("acme/sha", files)
    sha = hashlib.sha256(b"commit").hexdigest()
    repo.refs["HEAD"] = sha
    repo.snapshots[sha] = files
    rz.register_zoo_model_source("acme/sha")
    assert [s["sha"] for s in rz.zoo_model_sources_info()] == [sha]
    for bad in (sha + "0", sha[:41], "g" * 40):
        repo.refs["HEAD"] = bad
        repo.snapshots[bad] = files
        with pytest.raises(rz.SourceError, match="commit sha"):
            rz.register_zoo_model_source("acme/sha", overwrite=True)
    assert [s["sha"] for s in rz.zoo_model_sources_info()] == [sha]


# ---- SIGKILL while a model or a source is removed (12.4) ----------------------------------------

BIG_FILES = 20_000
BIG_INIT = (
    """
import os
def download_model(model_name, model_path):
    os.makedirs(model_path)
    seed = os.path.join(model_path, "seed")
    open(seed, "w").close()
    for i in range(%d // 100):
        d = os.path.join(model_path, "d%%03d" %% i)
        os.mkdir(d)
        for j in range(100):
            os.link(seed, os.path.join(d, "f%%03d" %% j))  # many names, quickly made
    os.unlink(seed)
def load_model(model_name, model_path, **kwargs):
    return sum(len(files) for _, _, files in os.walk(model_path))
"""
    % BIG_FILES
)


def removal_started(path: Path) -> bool:
    """The big model at path is being removed: moved aside into trash, or (in place) thinner."""
    models = home() / "models"
    try:
        # a trash directory holding what was moved aside (made empty first, then filled)
        if any(p.name.startswith(".rz-del-") and any(p.iterdir()) for p in models.iterdir()):
            return True
        return len(os.listdir(path)) < BIG_FILES // 100
    except FileNotFoundError:
        return True


def kill_during(code: str, path: Path, delay: float) -> None:
    proc = run_python(code)
    assert wait_until(lambda: removal_started(path) or proc.poll() is not None, 60)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture
def big(tmp_path):
    src = write_source(
        tmp_path / "src",
        [model("big", base_filename="big"), model("small")],
        init=BIG_INIT.replace("return sum", "return 0 if model_name == 'small' else sum").replace(
            "os.makedirs(model_path)",
            "os.makedirs(model_path)\n    if model_name == 'small': return",
        ),
        name="acme/big",
    )
    rz.register_zoo_model_source(str(src))
    _, path = rz.download_zoo_model("big")
    return src, Path(path)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_sigkill_during_delete_model_leaves_it_not_downloaded(big, delay):
    src, path = big
    kill_during("import remotezoo as rz; rz.delete_zoo_model('big')", path, delay)
    assert not rz.is_zoo_model_downloaded("big")
    with pytest.raises(rz.ModelNotFoundError):
        rz.load_zoo_model("big", download_if_necessary=False)
    assert rz.load_zoo_model("big") == BIG_FILES  # downloaded again, whole
    assert temps() == []  # and what the killed delete left was swept by that call


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_sigkill_during_delete_source_leaves_nothing_to_adopt(big, delay):
    src, path = big
    kill_during(f"import remotezoo as rz; rz.delete_zoo_model_source({str(src)!r})", path, delay)
    assert rz.list_zoo_model_sources() == []
    rz.register_zoo_model_source(str(src))
    assert not rz.is_zoo_model_downloaded("big")  # the half-deleted folder is not adopted
    assert not path.exists() and temps() == []
    assert rz.load_zoo_model("big") == BIG_FILES


def test_sigkill_while_a_registration_drops_a_changed_model(big, tmp_path):
    src, path = big
    edit = f"""
        import json, pathlib, remotezoo as rz
        m = pathlib.Path({str(src / "manifest.json")!r})
        d = json.loads(m.read_text())
        d["models"][0]["size_bytes"] = 1
        m.write_text(json.dumps(d))
        rz.register_zoo_model_source({str(src)!r})
    """
    kill_during(edit, path, 0.05)
    assert not rz.is_zoo_model_downloaded("big")
    assert rz.load_zoo_model("big") == BIG_FILES
    assert temps() == []
