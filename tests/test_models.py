"""Models of local sources: list, get, download, load, delete, through the sources' own
__init__.py imported and called by the C core."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.servers import leftovers
from helpers.zoo import SIMPLE_INIT, calls, model, write_source

import remotezoo as rz


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTEZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("REMOTEZOO_NO_PROGRESS", "1")
    return tmp_path / "home"


@pytest.fixture
def log(tmp_path):
    return tmp_path / "calls.log"


def test_register_list_download_load_delete(home, tmp_path, log):
    src = write_source(
        tmp_path / "src",
        [model("acme/scaler", "1.0", tags=["demo"], license="MIT")],
        name="acme/zoo",
    )
    rz.register_zoo_model_source(str(src))
    assert rz.list_zoo_model_sources() == [f"file://{src}"]
    assert rz.list_zoo_models() == ["acme/scaler@1.0"]
    m = rz.get_zoo_model("acme/scaler")
    assert (m.name, m.version, m.tags, m.license, m.zoo_source) == (
        "acme/scaler@1.0",
        "1.0",
        ["demo"],
        "MIT",
        f"file://{src}",
    )
    assert not rz.is_zoo_model_downloaded("acme/scaler")
    with pytest.raises(rz.ModelNotFoundError):
        rz.find_zoo_model("acme/scaler")

    model_obj, path = rz.download_zoo_model("acme/scaler")
    assert path == str(home / "models" / "acme" / "zoo" / "scaler-v1.0.json")
    assert model_obj.name == "acme/scaler@1.0" and os.path.isfile(path)
    assert rz.find_zoo_model("acme/scaler@1.0") == path
    assert calls(log) == ["download:acme/scaler@1.0"]
    # Downloaded already: not again.
    rz.download_zoo_model("acme/scaler")
    assert calls(log) == ["download:acme/scaler@1.0"]

    loaded = rz.load_zoo_model("acme/scaler")
    assert loaded.predict(2) == 6 and loaded.path == path and loaded.name == "acme/scaler@1.0"
    assert type(loaded).__module__.startswith("remotezoo._sources.")
    assert list(rz.list_downloaded_zoo_models()) == ["acme/scaler@1.0"]

    rz.delete_zoo_model("acme/scaler")
    assert not rz.is_zoo_model_downloaded("acme/scaler") and not os.path.exists(path)
    rz.download_zoo_model("acme/scaler")
    rz.delete_zoo_model_source(str(src))
    assert rz.list_zoo_model_sources() == [] and rz.list_zoo_models() == []
    assert not os.path.exists(path)
    assert src.exists(), "a local source is used in place and never deleted"
    assert leftovers(home) == []


def test_versions_latest_and_exact(home, tmp_path, log):
    src = write_source(tmp_path / "src", [model("m", v) for v in ("1.2", "1.10", "1.9-beta")])
    rz.register_zoo_model_source(str(src))
    assert rz.list_zoo_models() == ["m@1.10", "m@1.2", "m@1.9-beta"]
    assert rz.get_zoo_model("m").version == "1.10"
    _, path = rz.download_zoo_model("m@1.9-beta")
    assert path.endswith("/m-v1.9-beta.json")
    assert rz.is_zoo_model_downloaded("m@1.9-beta") and not rz.is_zoo_model_downloaded("m")
    with pytest.raises(rz.ModelNotFoundError) as info:
        rz.get_zoo_model("m@7")
    assert isinstance(info.value, ValueError) and "m@7" in str(info.value)


def test_package_split_into_modules(home, tmp_path, log):
    init = """
        from .zoo import download_model, load_model
        from . import helpers
        import importlib
        absolute = importlib.import_module(__name__ + ".zoo")
        assert absolute.download_model is download_model
    """
    files = {
        "zoo.py": """
            import os
            from .helpers import double
            def download_model(model_name, model_path):
                with open(model_path, "w") as f:
                    f.write(str(double(21)))
            def load_model(model_name, model_path, **kwargs):
                from .nested.deep import Wrapper
                return Wrapper(int(open(model_path).read()))
        """,
        "helpers.py": "def double(x):\n    return 2 * x\n",
        "nested/__init__.py": "",
        "nested/deep.py": "class Wrapper:\n    def __init__(self, v):\n        self.v = v\n",
    }
    src = write_source(tmp_path / "src", [model("split")], init=init, files=files)
    rz.register_zoo_model_source(str(src))
    assert rz.load_zoo_model("split").v == 42


def test_download_failure_leaves_nothing(home, tmp_path, log):
    init = """
        def download_model(model_name, model_path):
            with open(model_path, "w") as f:
                f.write("half")
            raise ConnectionError("network went away")
        def load_model(model_name, model_path, **kwargs):
            return None
    """
    src = write_source(tmp_path / "src", [model("broken")], init=init)
    rz.register_zoo_model_source(str(src))
    with pytest.raises(ConnectionError, match="network went away") as info:
        rz.download_zoo_model("broken")
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "broken" in notes and str(src) in notes and "download_model" in notes
    assert not rz.is_zoo_model_downloaded("broken")
    assert leftovers(home) == []
    # The traceback still reaches into the source's code.
    tb = info.tb
    frames = []
    while tb:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    assert str(src / "__init__.py") in frames


def test_download_model_that_creates_nothing(home, tmp_path):
    init = "def download_model(model_name, model_path):\n    pass\n"
    src = write_source(tmp_path / "src", [model("lazy")], init=init)
    rz.register_zoo_model_source(str(src))
    with pytest.raises(rz.SourceError, match="without creating"):
        rz.download_zoo_model("lazy")


def test_missing_functions_are_named(home, tmp_path):
    src = write_source(tmp_path / "src", [model("nodl")], init="x = 1\n")
    rz.register_zoo_model_source(str(src))
    with pytest.raises(rz.SourceError, match=r"download_model\(\)") as info:
        rz.download_zoo_model("nodl")
    assert info.value.model == "nodl"
    src2 = write_source(
        tmp_path / "src2",
        [model("noload")],
        init="def download_model(n, p):\n    open(p, 'w').close()\n",
    )
    rz.register_zoo_model_source(str(src2))
    with pytest.raises(rz.SourceError, match=r"load_model\(\)"):
        rz.load_zoo_model("noload")


def test_source_without_init_py(home, tmp_path):
    src = write_source(tmp_path / "src", [model("bare")], init=None)
    rz.register_zoo_model_source(str(src))
    assert rz.list_zoo_models() == ["bare"]
    with pytest.raises(rz.SourceError, match="__init__.py"):
        rz.download_zoo_model("bare")


def test_kwargs_pass_through_and_cache(home, tmp_path, log):
    src = write_source(tmp_path / "src", [model("k")])
    rz.register_zoo_model_source(str(src))
    a = rz.load_zoo_model("k", alpha=1, beta="two")
    assert a.kwargs == {"alpha": 1, "beta": "two"}
    assert rz.load_zoo_model("k", beta="two", alpha=1) is a
    b = rz.load_zoo_model("k", alpha=2)
    assert b is not a and b.kwargs == {"alpha": 2}
    c = rz.load_zoo_model("k", alpha=1, beta="two", cache=False)
    assert c is not a
    assert rz.load_zoo_model("k", opts=[1, 2]).kwargs == {"opts": [1, 2]}  # unhashable: uncached
    assert calls(log).count("load:k") == 4  # a, b, c and the uncached one


def test_download_if_necessary_false(home, tmp_path):
    src = write_source(tmp_path / "src", [model("lazy2")])
    rz.register_zoo_model_source(str(src))
    with pytest.raises(rz.ModelNotFoundError, match="not downloaded"):
        rz.load_zoo_model("lazy2", download_if_necessary=False)


def test_load_by_source_spec_registers_first(home, tmp_path):
    src = write_source(tmp_path / "src", [model("only")])
    # A bare name is only ever a model name (tests/test_bare_names.py): a URL registers.
    with pytest.raises(rz.ModelNotFoundError):
        rz.load_zoo_model(str(src))
    assert rz.list_zoo_model_sources() == []
    assert rz.load_zoo_model(src.as_uri()).predict(1) == 3
    assert rz.list_zoo_model_sources() == [f"file://{src}"]
    two = write_source(tmp_path / "two", [model("a"), model("b")])
    with pytest.raises(ValueError, match="model_name"):
        rz.load_zoo_model(two.as_uri())
    assert rz.load_zoo_model(str(two), model_name="b").name == "b"


def test_same_model_in_two_sources(home, tmp_path):
    one = write_source(tmp_path / "one", [model("dup", "1.0")], name="one")
    two = write_source(tmp_path / "two", [model("dup", "1.0")], name="two")
    rz.register_zoo_model_source(str(one))
    rz.register_zoo_model_source(str(two))
    with pytest.raises(rz.ModelNotFoundError) as info:
        rz.get_zoo_model("dup")
    assert f"file://{one}" in str(info.value) and f"file://{two}" in str(info.value)
    assert rz.get_zoo_model("dup", source=str(two)).zoo_source == f"file://{two}"
    _, path = rz.download_zoo_model(str(two), model_name="dup@1.0")
    assert "/models/two/" in path
    # A newer version in one source is simply the latest.
    three = write_source(tmp_path / "three", [model("dup", "2.0")], name="three")
    rz.register_zoo_model_source(str(three))
    assert rz.get_zoo_model("dup").zoo_source == f"file://{three}"


def test_listing_filters(home, tmp_path):
    src = write_source(
        tmp_path / "src",
        [
            model("a", tags=["x", "y"], license="MIT"),
            model("b", tags=["x"], license="Apache-2.0"),
            model("c", license="GPL"),
        ],
    )
    other = write_source(tmp_path / "other", [model("d", tags=["x", "y"])])
    rz.register_zoo_model_source(str(src))
    rz.register_zoo_model_source(str(other))
    assert rz.list_zoo_models(tags="x") == ["a", "b", "d"]
    assert rz.list_zoo_models(tags=["x", "y"]) == ["a", "d"]
    assert rz.list_zoo_models(license=["MIT", "GPL"]) == ["a", "c"]
    assert rz.list_zoo_models(license="MIT") == ["a"]
    assert rz.list_zoo_models(source=str(other)) == ["d"]
    assert rz.list_zoo_models(tags="x", source=str(src), license="Apache-2.0") == ["b"]


def test_the_full_listing_is_remembered_only_while_the_registry_is_unchanged(home, tmp_path):
    # list_zoo_models() with no filter is kept with the parsed index: each call returns a fresh
    # list, and any change to the registry (this process or another) is seen.
    one = write_source(tmp_path / "one", [model("a"), model("b")], name="one")
    rz.register_zoo_model_source(str(one))
    first = rz.list_zoo_models()
    first.append("mutated")
    assert rz.list_zoo_models() == ["a", "b"] and rz.list_zoo_models() is not rz.list_zoo_models()
    two = write_source(tmp_path / "two", [model("c")], name="two")
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import remotezoo as rz; rz.register_zoo_model_source({str(two)!r})",
        ],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert rz.list_zoo_models() == ["a", "b", "c"]
    rz.delete_zoo_model_source(str(one))
    assert rz.list_zoo_models() == ["c"] and rz.list_zoo_models(tags="none") == []


def test_importing_listing_downloading_and_loading_never_map_the_network_libraries(home, tmp_path):
    # libcurl and libarchive (remotezoo._net) cost ~12 ms of dynamic loading: a process that
    # only works with local sources and plain models never pays it.
    src = write_source(tmp_path / "src", [model("m")])
    code = textwrap.dedent(f"""
        import sys
        import remotezoo as rz
        rz.register_zoo_model_source({str(src)!r})
        assert rz.list_zoo_models() == ["m"] and rz.get_zoo_model("m").name == "m"
        rz.download_zoo_model("m")
        assert rz.load_zoo_model("m").predict(2) == 6 and rz.list_downloaded_zoo_models()
        maps = open("/proc/self/maps").read()
        print("remotezoo._net" in sys.modules, "libcurl" in maps, "libarchive" in maps)
        rz.library_versions()
        maps = open("/proc/self/maps").read()
        print("remotezoo._net" in sys.modules, "libcurl" in maps, "libarchive" in maps)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=dict(os.environ, RZ_TEST_CALL_LOG=str(tmp_path / "calls.log")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False"] * 3 + ["True"] * 3  # until something needs them


def test_listing_never_imports_source_code(home, tmp_path):
    src = write_source(tmp_path / "src", [model("quiet")], init="raise RuntimeError('imported!')\n")
    rz.register_zoo_model_source(str(src))
    assert rz.list_zoo_models() == ["quiet"]
    assert rz.get_zoo_model("quiet").name == "quiet"
    assert not any(
        name.startswith("remotezoo._sources.") and "quiet" in repr(mod)
        for name, mod in sys.modules.items()
    )
    with pytest.raises(RuntimeError, match="imported!"):
        rz.download_zoo_model("quiet")
    # A failed import is not left half-done in sys.modules.
    assert not [
        n
        for n, m in sys.modules.items()
        if n.startswith("remotezoo._sources.")
        and getattr(m, "__file__", "") == str(src / "__init__.py")
    ]


def test_local_source_changes_are_seen(home, tmp_path, log):
    src = write_source(tmp_path / "src", [model("v")])
    rz.register_zoo_model_source(str(src))
    first = rz.load_zoo_model("v", cache=False)
    assert first.predict(1) == 3
    (src / "__init__.py").write_text(
        SIMPLE_INIT.replace("return x * self.scale", "return x * self.scale * 100")
        + "\n# changed\n"
    )
    assert rz.load_zoo_model("v", cache=False).predict(1) == 300
    write_source(src, [model("v"), model("w")])
    assert rz.list_zoo_models() == ["v", "w"]


def test_requirements_checked_before_load(home, tmp_path):
    src = write_source(
        tmp_path / "src",
        [model("needs", requirements={"packages": ["surely-not-installed-pkg-xyz"]})],
    )
    rz.register_zoo_model_source(str(src))
    with pytest.raises(rz.RequirementsError, match="surely-not-installed-pkg-xyz"):
        rz.load_zoo_model("needs")
    assert rz.load_zoo_model("needs", error_level=2).predict(1) == 3
    assert rz.ensure_zoo_model_requirements("needs", error_level=1) is False


def test_default_deployment_config_dict_without_fiftyone(home, tmp_path, monkeypatch):
    pkg = tmp_path / "site"
    (pkg / "fakefw").mkdir(parents=True)
    (pkg / "fakefw" / "__init__.py").write_text(
        textwrap.dedent("""
        class Detector:
            def __init__(self, model_path, threshold, **extra):
                self.model_path, self.threshold, self.extra = model_path, threshold, extra
    """)
    )
    monkeypatch.syspath_prepend(str(pkg))
    ddcd = {"type": "fakefw.Detector", "config": {"threshold": 0.5}}
    src = write_source(tmp_path / "src", [model("det", default_deployment_config_dict=ddcd)])
    rz.register_zoo_model_source(str(src))
    det = rz.load_zoo_model("det", extra_arg=7)
    assert (
        det.threshold == 0.5
        and det.model_path.endswith("det.json")
        and det.extra == {"extra_arg": 7}
    )


def _load_in_process(home: str, log: str, queue) -> None:
    os.environ["REMOTEZOO_HOME"] = home
    os.environ["RZ_TEST_CALL_LOG"] = log
    try:
        obj = rz.load_zoo_model("shared", cache=False)
        queue.put(obj.predict(5))
    except BaseException as err:  # report, don't hang the parent
        queue.put(repr(err))


def test_eight_processes_one_download(home, tmp_path, log):
    init = SIMPLE_INIT.replace(
        "def download_model(model_name, model_path):\n",
        "def download_model(model_name, model_path):\n    import time; time.sleep(0.5)\n",
    )
    src = write_source(tmp_path / "src", [model("shared")], init=init)
    rz.register_zoo_model_source(str(src))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_load_in_process, args=(str(home), str(log), queue)) for _ in range(8)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [15] * 8
    assert calls(log).count("download:shared") == 1
    assert calls(log).count("load:shared") == 8
    assert leftovers(home) == []


def test_objects_from_sources_pickle_into_workers(home, tmp_path):
    src = write_source(tmp_path / "src", [model("pick")])
    rz.register_zoo_model_source(str(src))
    obj = rz.load_zoo_model("pick")
    data = pickle.dumps(obj)
    code = "import pickle, sys; obj = pickle.loads(sys.stdin.buffer.read()); print(obj.predict(7))"
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "21"


def test_unknown_names_and_sources(home, tmp_path):
    with pytest.raises(rz.ModelNotFoundError) as info:
        rz.get_zoo_model("nothing-here")
    assert isinstance(info.value, ValueError) and "nothing-here" in str(info.value)
    with pytest.raises(rz.SourceError) as info2:
        rz.delete_zoo_model_source(str(tmp_path / "never"))
    assert isinstance(info2.value, ValueError)
    with pytest.raises(rz.SourceError, match="not a directory"):
        rz.register_zoo_model_source(str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(rz.SourceError, match="no manifest.json"):
        rz.register_zoo_model_source(str(empty))
    assert rz.list_zoo_model_sources() == []


def test_bad_manifest_is_refused_and_nothing_kept(home, tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    (src / "manifest.json").write_text('{"models": [{"base_name": "x", "tags": "oops"}]}')
    with pytest.raises(rz.ManifestError) as info:
        rz.register_zoo_model_source(str(src))
    assert info.value.field == "tags" and info.value.model == "x"
    assert rz.list_zoo_model_sources() == []


def test_several_manifests_in_one_tree(home, tmp_path):
    root = tmp_path / "repo"
    write_source(root / "alpha", [model("alpha-model")], name="org/alpha")
    write_source(root / "group" / "beta", [model("beta-model")])
    write_source(root / "alpha" / "inner", [model("hidden")])  # below a source dir: not searched
    (root / "README.md").parent.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("hi")
    rz.register_zoo_model_source(str(root))
    assert rz.list_zoo_models() == ["alpha-model", "beta-model"]
    assert rz.load_zoo_model("beta-model").predict(1) == 3
    assert rz.load_zoo_model("alpha-model").predict(2) == 6


def test_manager_models_are_fetched_by_the_core(home, tmp_path, http_server):
    import hashlib
    import io
    import tarfile

    weights = os.urandom(300_000)
    http_server.serve_bytes("/w/weights.bin", weights)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, data in (("bundle/config.json", b"{}"), ("bundle/weights.bin", weights)):
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    http_server.serve_bytes("/w/bundle.tar.gz", buf.getvalue())
    good = hashlib.sha256(weights).hexdigest()
    models = [
        model(
            "plain",
            base_filename="weights.bin",
            sha256=good,
            manager={
                "type": "fiftyone.core.models.ModelManager",
                "config": {"url": http_server.url("/w/weights.bin")},
            },
        ),
        model(
            "corrupt",
            base_filename="corrupt.bin",
            sha256="0" * 64,
            manager={"config": {"url": http_server.url("/w/weights.bin")}},
        ),
        model(
            "bundle",
            base_filename="bundle",
            manager={
                "config": {"url": http_server.url("/w/bundle.tar.gz"), "extract_archive": True}
            },
        ),
        model("nourl", manager={"config": {"google_drive_id": "abc"}}),
    ]
    init = "def load_model(model_name, model_path, **kwargs):\n    return model_path\n"
    src = write_source(tmp_path / "src", models, init=init, name="acme/managed")
    rz.register_zoo_model_source(str(src))

    _, path = rz.download_zoo_model("plain")
    assert Path(path).read_bytes() == weights
    assert rz.load_zoo_model("plain") == path

    with pytest.raises(rz.ChecksumError) as info:
        rz.download_zoo_model("corrupt")
    assert good in str(info.value) and "0" * 64 in str(info.value)
    assert not rz.is_zoo_model_downloaded("corrupt")

    _, bundle = rz.download_zoo_model("bundle")
    assert (Path(bundle) / "weights.bin").read_bytes() == weights
    assert (Path(bundle) / "config.json").exists()

    with pytest.raises(rz.SourceError, match="config.url"):
        rz.download_zoo_model("nourl")
    assert leftovers(home) == []


def test_declared_sha256_checks_what_download_model_wrote(home, tmp_path):
    import hashlib

    body = b'{"scale": 3}'
    init = f"""
def download_model(model_name, model_path):
    with open(model_path, "wb") as f:
        f.write({body!r} if model_name == "good" else b"tampered")
def load_model(model_name, model_path, **kwargs):
    return open(model_path, "rb").read()
"""
    digest = hashlib.sha256(body).hexdigest()
    src = write_source(
        tmp_path / "src", [model("good", sha256=digest), model("bad", sha256=digest)], init=init
    )
    rz.register_zoo_model_source(str(src))
    assert rz.load_zoo_model("good") == body
    with pytest.raises(rz.ChecksumError):
        rz.download_zoo_model("bad")
    assert not rz.is_zoo_model_downloaded("bad") and leftovers(home) == []


def test_overwrite_replaces_a_downloaded_model(home, tmp_path, log):
    src = write_source(tmp_path / "src", [model("ow")])
    rz.register_zoo_model_source(str(src))
    _, path = rz.download_zoo_model("ow")
    Path(path).write_text('{"scale": 1}')
    rz.download_zoo_model("ow", overwrite=True)
    assert rz.load_zoo_model("ow", cache=False).predict(1) == 3
    assert calls(log).count("download:ow") == 2


def test_threads_share_the_index_cache_safely(home, tmp_path, log):
    import threading

    sources = [write_source(tmp_path / f"s{i}", [model(f"m{i}")]) for i in range(4)]
    for src in sources:
        rz.register_zoo_model_source(str(src))
    rz.download_zoo_model("m0")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for j in range(60):
                src = sources[(k + j) % 4]
                if j % 5 == 0:
                    # Rewriting a manifest makes every thread reload the index.
                    write_source(src, [model(f"m{(k + j) % 4}", tags=[str(j)])], init=None)
                assert len(rz.list_zoo_models()) == 4
                assert rz.get_zoo_model(f"m{(k + j) % 4}").name == f"m{(k + j) % 4}"
                assert rz.load_zoo_model("m0", cache=False).predict(1) == 3
        except BaseException as err:  # collected for the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_sources_never_share_model_files(home, tmp_path, log):
    main = write_source(tmp_path / "main", [model("m", "1.0", description="main")], name="acme/zoo")
    dev = write_source(tmp_path / "dev", [model("m", "1.0", description="dev")], name="acme/zoo")
    rz.register_zoo_model_source(str(main))
    _, main_path = rz.download_zoo_model(str(main), model_name="m@1.0")
    assert main_path == str(home / "models" / "acme" / "zoo" / "m-v1.0.json")
    # A second source with the same manifest name is refused, naming both (as FiftyOne).
    with pytest.raises(rz.SourceError, match="already provided by") as info:
        rz.register_zoo_model_source(str(dev))
    assert "dev" in str(info.value) and "main" in str(info.value)
    assert len(rz.list_zoo_model_sources()) == 1
    # Registering again keeps the source's directory.
    rz.register_zoo_model_source(str(main), overwrite=True)
    assert rz.find_zoo_model("m", source=str(main)) == main_path
    # A name that is a directory above another's: still apart.
    outer = write_source(
        tmp_path / "outer", [model("dirmodel", base_filename="zoo2")], name="acme2"
    )
    inner = write_source(
        tmp_path / "inner", [model("inside", base_filename="w.json")], name="acme2/zoo2"
    )
    rz.register_zoo_model_source(str(outer))
    rz.register_zoo_model_source(str(inner))
    info_outer = rz.download_zoo_model("dirmodel")[1]
    info_inner = rz.download_zoo_model("inside")[1]
    assert not info_inner.startswith(info_outer + "/")
    assert not info_inner.startswith(str(Path(info_outer).parent) + "/")
    rz.delete_zoo_model_source(str(outer))
    assert os.path.exists(info_inner) and os.path.exists(main_path)
