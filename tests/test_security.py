"""Security: hostile archives through every entry point, the GitHub token's reach, no shell, no
source code run before download/load, no model placed outside the models directory, and the
fuzzers' seed corpora (with their regression inputs) replayed through the Python API."""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fake_github import FakeGitHub
from helpers.hostile_archives import HOSTILE, Entry, compress, file, tar_bytes, zip_bytes
from helpers.servers import LoopbackServer, Response
from helpers.zoo import SIMPLE_INIT, model, write_source

import remotezoo as rz
from remotezoo import _core, _net

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ghp_SECURITY_token_9876543210"
MANIFEST = json.dumps(
    {"name": "acme/hostile", "models": [{"base_name": "m", "base_filename": "m.json"}]}
)
# Hostile cases that only trip with small limits (the source and manager paths use the defaults).
LIMITED = {name for name, case in HOSTILE.items() if case.limits}
CASES = sorted(set(HOSTILE) - LIMITED)


def temp_leftovers(root: Path) -> list[str]:
    return [
        str(p) for p in root.rglob("*") if any(t in p.name for t in (".tmp-", ".rz-", ".part-"))
    ]


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def hostile_archive(name: str, kind: str, with_manifest: bool) -> bytes:
    entries = list(HOSTILE[name].entries)
    if with_manifest:
        entries.insert(0, file("manifest.json", MANIFEST.encode()))
    if kind == "zip":
        return zip_bytes(entries)
    return compress(tar_bytes(entries), kind)


def kind_for(name: str) -> str:
    """zip where it can hold the entries (no hard links; a zip FIFO member is a plain file to
    libarchive, which test_extract.py documents), else tar.gz."""
    entries = HOSTILE[name].entries
    return "tar.gz" if any(e.kind in ("hardlink", "fifo") for e in entries) else "zip"


# ---- hostile archives through every entry point ---------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_hostile_archive_as_source_url(name, http_server2, tmp_path):
    home = Path(rz.home())
    before = set(os.listdir(home.parent))
    for kind in ("tar.gz", kind_for(name)):
        http_server2.serve_bytes(f"/src.{kind}", hostile_archive(name, kind, with_manifest=True))
        with pytest.raises(rz.UnsafeArchiveError):
            rz.register_zoo_model_source(http_server2.url(f"/src.{kind}"))
    assert rz.list_zoo_model_sources() == []
    assert temp_leftovers(home) == []
    assert not (home / "sources").exists() or all_files(home / "sources") == []
    assert set(os.listdir(home.parent)) == before  # nothing escaped beside the home


@pytest.mark.parametrize("name", CASES)
def test_hostile_archive_as_manager_model(name, http_server, tmp_path):
    kind = kind_for(name)
    http_server.serve_bytes(f"/weights.{kind}", hostile_archive(name, kind, with_manifest=False))
    src = write_source(
        tmp_path / "src",
        [
            {
                "base_name": "weights",
                "base_filename": "weights",
                "manager": {
                    "type": "x",
                    "config": {"url": http_server.url(f"/weights.{kind}"), "extract_archive": True},
                },
            }
        ],
        init=None,
        name="acme/managed",
    )
    rz.register_zoo_model_source(str(src))
    outside = set(os.listdir(tmp_path))
    with pytest.raises(rz.UnsafeArchiveError):
        rz.download_zoo_model("weights")
    assert not rz.is_zoo_model_downloaded("weights")
    models = Path(rz.home()) / "models"
    assert temp_leftovers(Path(rz.home())) == []
    assert not models.exists() or all_files(models) == []
    assert set(os.listdir(tmp_path)) == outside


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_archive_through_extract_archive(name, tmp_path):
    case = HOSTILE[name]
    box = tmp_path / "box"
    box.mkdir()
    archive = tmp_path / f"a.{kind_for(name)}"
    archive.write_bytes(hostile_archive(name, kind_for(name), with_manifest=False))
    with pytest.raises(rz.UnsafeArchiveError) as info:
        _net.extract_archive(str(archive), str(box / "dest"), False, **case.limits)
    assert info.value.path
    assert os.listdir(box) == []
    assert sorted(os.listdir(tmp_path)) == ["a." + kind_for(name), "box"]


def test_manager_model_good_archive_then_hostile_overwrite_keeps_old(http_server, tmp_path):
    good = compress(
        tar_bytes([Entry("weights", "dir", mode=0o755), file("weights/w.bin", b"ok")]), "tar.gz"
    )
    route = http_server.serve_bytes("/w.tar.gz", good)
    src = write_source(
        tmp_path / "src",
        [
            {
                "base_name": "weights",
                "base_filename": "weights",
                "manager": {
                    "type": "x",
                    "config": {"url": http_server.url("/w.tar.gz"), "extract_archive": True},
                },
            }
        ],
        init=None,
        name="acme/managed",
    )
    rz.register_zoo_model_source(str(src))
    _, path = rz.download_zoo_model("weights")
    assert (Path(path) / "w.bin").read_bytes() == b"ok"
    route.data = hostile_archive("symlink_absolute", "tar.gz", with_manifest=False)
    with pytest.raises(rz.UnsafeArchiveError):
        rz.download_zoo_model("weights", overwrite=True)
    assert (Path(path) / "w.bin").read_bytes() == b"ok"
    assert temp_leftovers(Path(rz.home())) == []


# ---- GITHUB_TOKEN's reach ---------------------------------------------------------------------


@pytest.fixture
def github(http_server, http_server2, monkeypatch, tmp_path):
    gh = FakeGitHub(http_server, http_server2, token=TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_SERVER_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    return gh


def source_files() -> dict[str, str]:
    return {
        "manifest.json": json.dumps({"name": "acme/zoo", "models": [model("alpha", "1.0")]}),
        "__init__.py": SIMPLE_INIT,
    }


def assert_token_nowhere(caplog, *extra: str) -> None:
    assert TOKEN not in caplog.text
    for text in extra:
        assert TOKEN not in text
    for path in Path(rz.home()).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def auth_headers(server: LoopbackServer) -> list[str]:
    return [
        r.headers.get("Authorization") for r in server.requests if r.headers.get("Authorization")
    ]


def test_token_follows_a_redirect_on_the_api_host_only(github, http_server, caplog):
    caplog.set_level(logging.DEBUG)
    repo = github.add_repo("acme/models", source_files())
    sha = repo.refs["HEAD"]
    # The API moves the tarball to a third path of its own host, which serves it itself.
    tarball = github.download.url(f"/acme/models/legacy.tar.gz/{sha}")
    http_server.route(
        f"/repos/acme/models/tarball/{sha}", Response(302, b"", {"Location": "/moved/tarball"})
    )
    http_server.route("/moved/tarball", Response(302, b"", {"Location": tarball}))
    rz.register_zoo_model_source("acme/models")
    assert rz.list_zoo_models() == ["alpha@1.0"]
    assert [r.path for r in http_server.requests_to("/moved/tarball")] == ["/moved/tarball"]
    # The same host may see the token; the download host never does.
    assert all(a == f"Bearer {TOKEN}" for a in auth_headers(http_server))
    assert auth_headers(github.download) == []
    assert_token_nowhere(caplog)


def test_token_never_reaches_another_port_of_the_same_address(github, http_server, caplog):
    caplog.set_level(logging.DEBUG)
    other = LoopbackServer("127.0.0.1")  # same address, another port: another origin
    try:
        repo = github.add_repo("acme/models", source_files())
        sha = repo.refs["HEAD"]
        other.route(
            f"/t/{sha}",
            Response(
                302, b"", {"Location": github.download.url(f"/acme/models/legacy.tar.gz/{sha}")}
            ),
        )
        http_server.route(
            f"/repos/acme/models/tarball/{sha}",
            Response(302, b"", {"Location": other.url(f"/t/{sha}")}),
        )
        rz.register_zoo_model_source("acme/models")
        assert other.requests and auth_headers(other) == []
        assert auth_headers(github.download) == []
    finally:
        other.close()
    assert_token_nowhere(caplog)


@pytest.mark.parametrize("status", [404, 500, 403])
def test_token_not_in_errors_after_a_redirect(github, http_server, caplog, status, monkeypatch):
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "2")
    caplog.set_level(logging.DEBUG)
    repo = github.add_repo("acme/models", source_files())
    sha = repo.refs["HEAD"]
    github.download.route(f"/broken/{sha}", Response(status, TOKEN.encode(), {}))
    http_server.route(
        f"/repos/acme/models/tarball/{sha}",
        Response(302, b"", {"Location": github.download.url(f"/broken/{sha}?token={TOKEN}")}),
    )
    with pytest.raises(rz.RemoteZooError) as info:
        rz.register_zoo_model_source("acme/models")
    err = info.value
    texts = [str(err), repr(err), str(getattr(err, "url", "")), str(err.args)]
    assert auth_headers(github.download) == []
    assert rz.list_zoo_model_sources() == []
    assert_token_nowhere(caplog, *texts)


def test_token_not_in_cli_output(github, http_server):
    github.add_repo("acme/models", source_files(), private=True)
    env = dict(os.environ, GITHUB_TOKEN="ghp_WRONG_" + TOKEN)
    proc = subprocess.run(
        [sys.executable, "-m", "remotezoo", "sources", "register", "acme/models"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert TOKEN not in proc.stdout + proc.stderr and "GITHUB_TOKEN" in proc.stderr


# ---- no shell -------------------------------------------------------------------------------

SHELL_C = re.compile(
    r"\b(system|popen|execl|execlp|execle|execv|execvp|execvpe|posix_spawnp?)\s*\(|/bin/sh"
)
SHELL_PY = re.compile(
    r"shell\s*=\s*True|os\.system\s*\(|os\.popen\s*\(|os\.exec\w*\s*\(|os\.spawn\w*\s*\(|"
    r"subprocess\.getoutput|subprocess\.getstatusoutput|pty\.spawn"
)


def test_no_shell_anywhere_in_the_code():
    hits = []
    for path in sorted((ROOT / "csrc").rglob("*.[ch]")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if SHELL_C.search(line) and not line.lstrip().startswith(("/*", "*", "//")):
                hits.append(f"{path.name}:{n}: {line.strip()}")
    for path in sorted((ROOT / "remotezoo").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if SHELL_PY.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == []
    # The one subprocess call of the library gets a list argv (a name bound to a list), and
    # nothing else of subprocess is called.
    calls = [
        node
        for path in (ROOT / "remotezoo").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "subprocess"
    ]
    assert [ast.unparse(c.func) for c in calls] == ["subprocess.run"]
    assert isinstance(calls[0].args[0], ast.Name) and calls[0].args[0].id == "argv"


def test_pip_gets_requirements_as_separate_argv_items(tmp_path, monkeypatch):
    record = tmp_path / "argv.json"
    installer = tmp_path / "fake_pip.py"
    installer.write_text(f"import json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    monkeypatch.setenv("REMOTEZOO_PIP", json.dumps([sys.executable, str(installer)]))
    monkeypatch.chdir(tmp_path)
    hostile = 'zzz-not-installed>=1.0; python_version >= "3" and sys_platform != "$(touch pwned)"'
    src = write_source(
        tmp_path / "src",
        [
            model(
                "req", requirements={"packages": [hostile, "yyy-missing `touch pwned2`|zzz-other"]}
            )
        ],
    )
    rz.register_zoo_model_source(str(src))
    try:
        rz.install_zoo_model_requirements("req", error_level=1)
    except rz.RequirementsError:
        pass
    argv = json.loads(record.read_text())
    # The marker was evaluated by remotezoo, the requirement reaches pip as one argv item.
    assert "zzz-not-installed>=1.0" in argv
    assert all(" " not in a or a.count(" ") == 0 for a in argv if a.startswith("zzz"))
    assert not any(p.name.startswith("pwned") for p in tmp_path.iterdir())
    assert not (tmp_path / "=1.0").exists() and not (tmp_path / "=").exists()


# ---- a source's code runs only on download or load ------------------------------------------


def test_source_code_runs_only_on_download_or_load(tmp_path, monkeypatch, http_server):
    marker = tmp_path / "imported"
    init = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('yes')\n" + SIMPLE_INIT
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    src = write_source(
        tmp_path / "src",
        [model("spy", "1.0", tags=["t"], license="MIT")],
        init=init,
        name="acme/spy",
    )
    archive = compress(
        tar_bytes(
            [
                Entry("top", "dir", mode=0o755),
                file(
                    "top/manifest.json",
                    json.dumps({"name": "acme/spy2", "models": [model("spy2")]}).encode(),
                ),
                file("top/__init__.py", init.encode()),
            ]
        ),
        "tar.gz",
    )
    http_server.serve_bytes("/spy.tar.gz", archive)
    rz.register_zoo_model_source(str(src))
    rz.register_zoo_model_source(http_server.url("/spy.tar.gz"))
    rz.register_zoo_model_source(str(src), overwrite=True)
    assert rz.list_zoo_model_sources() and rz.zoo_model_sources_info()
    assert rz.list_zoo_models(tags="t", license="MIT") == ["spy@1.0"]
    assert (
        rz.get_zoo_model("spy@1.0").name == "spy@1.0"
        and rz.get_zoo_model("spy2").base_name == "spy2"
    )
    assert rz.list_downloaded_zoo_models() == {} and not rz.is_zoo_model_downloaded("spy")
    with pytest.raises(rz.RemoteZooError):
        rz.find_zoo_model("spy")
    rz.ensure_zoo_model_requirements("spy", error_level=2)
    for args in (
        ["models", "list"],
        ["models", "info", "spy"],
        ["sources", "list"],
        ["models", "list-downloaded"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "remotezoo", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert not [n for n in sys.modules if n.startswith("remotezoo._sources.") and "spy" in n]
    rz.download_zoo_model("spy")
    assert marker.exists()


# ---- models stay inside the models directory ------------------------------------------------


def inside(path: str, root: Path) -> bool:
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    return real == base or real.startswith(base + os.sep)


@pytest.mark.parametrize(
    "name",
    [
        "../../escape",
        "/etc/escape",
        "a/../../..",
        "..",
        ".",
        "a//b/./c",
        "~/x",
        "a\\..\\..\\b",
        "%2e%2e/x",
        "a/\u2024\u2024/b",
    ],
)
def test_manifest_name_cannot_leave_models_dir(name, tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    src = write_source(tmp_path / "src", [model("named")], name=name)
    try:
        rz.register_zoo_model_source(str(src))
    except rz.ManifestError:
        return  # refusing the name is fine too
    _, path = rz.download_zoo_model("named")
    models = Path(rz.home()) / "models"
    assert inside(path, models) and os.path.exists(path)
    assert not (tmp_path / "escape").exists() and not Path("/etc/escape").exists()
    rz.delete_zoo_model_source(str(src))
    assert not os.path.exists(path)


@pytest.mark.parametrize(
    "base_filename", ["../x.json", "/abs/x.json", "a/../../x.json", "..", "a/..", "~/x"]
)
def test_base_filename_cannot_leave_models_dir(base_filename, tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    src = write_source(
        tmp_path / "src", [{"base_name": "m", "base_filename": base_filename}], name="acme/x"
    )
    try:
        rz.register_zoo_model_source(str(src))
        _, path = rz.download_zoo_model("m")
    except rz.ManifestError as exc:
        assert exc.field == "base_filename"
        return
    assert inside(path, Path(rz.home()) / "models")


def test_version_cannot_leave_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    for i, version in enumerate(["/../../../x", "1/../../..", "../"]):
        src = write_source(tmp_path / f"src{i}", [model("v", version)], name=f"acme/v{i}")
        try:
            rz.register_zoo_model_source(str(src))
            _, path = rz.download_zoo_model(rz.list_zoo_models(source=str(src))[0])
        except (rz.ManifestError, rz.ModelNotFoundError, rz.SourceError):
            continue
        assert inside(path, Path(rz.home()) / "models"), (version, path)


def test_whole_models_dir_as_a_symlink_still_works(tmp_path, monkeypatch):
    """A user may keep the cache on another disk: a symlinked home/models is theirs to choose."""
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    disk = tmp_path / "disk"
    disk.mkdir()
    Path(rz.home()).mkdir(parents=True, exist_ok=True)
    (Path(rz.home()) / "models").symlink_to(disk)
    src = write_source(tmp_path / "src", [model("ondisk")], name="acme/zoo")
    rz.register_zoo_model_source(str(src))
    _, path = rz.download_zoo_model("ondisk")
    assert Path(path).exists() and inside(path, disk)


# ---- the fuzzers' corpora, replayed through the Python API ----------------------------------

CORPUS = ROOT / "fuzz" / "corpus"


def corpus(target: str) -> list[Path]:
    return sorted((CORPUS / target).iterdir())


def test_fuzz_corpus_manifest():
    files = corpus("manifest")
    assert any(p.name.startswith("regress-") for p in files)
    for path in files:
        try:
            manifest = rz.parse_manifest(path.read_bytes(), source=path.name)
        except rz.ManifestError as exc:
            assert str(exc) and "\n" not in str(exc), path
        else:
            assert manifest is not None


def test_fuzz_corpus_spec():
    files = corpus("spec")
    assert any(p.name.startswith("regress-") for p in files)
    for path in files:
        data = path.read_bytes()[1:].split(b"\0")[0]
        try:
            spec = data.decode("utf-8")
        except UnicodeDecodeError:
            spec = data.decode("utf-8", "surrogateescape")
        try:
            first = _core.parse_source_spec(spec)
        except (rz.SourceError, UnicodeEncodeError, ValueError) as exc:
            assert "\n" not in str(exc), path
            continue
        again = _core.parse_source_spec(first["identity"])
        assert again["identity"] == first["identity"], path


def test_fuzz_corpus_version():
    for path in corpus("version"):
        parts = (path.read_bytes().split(b"\0") + [b"", b""])[:3]
        versions = [p.decode("utf-8", "replace") for p in parts]
        for a in versions:
            assert rz.compare_versions(a, a) == 0
            for b in versions:
                assert rz.compare_versions(a, b) == -rz.compare_versions(b, a)


def test_fuzz_corpus_extract(tmp_path):
    for i, path in enumerate(corpus("extract")):
        dest = tmp_path / f"d{i}"
        try:
            rz.extract_archive(path, dest)
        except (rz.ArchiveError, OSError):
            assert not dest.exists(), path
        else:
            assert dest.is_dir()
        assert temp_leftovers(tmp_path) == []


# ---- denial of service ----------------------------------------------------------------------


def test_huge_manifest_duplicate_checks_are_not_quadratic():
    """Duplicate keys and duplicate model names are found by sorting: a quadratic scan of these
    (400k keys, 200k models; a few MB each) would take minutes to hours."""
    keys = ",".join(f'"k{i}": 0' for i in range(400_000))
    text = '{"models": [{"base_name": "m", "extra": {%s, "k7": 1}}]}' % keys
    with pytest.raises(rz.ManifestError) as info:
        rz.parse_manifest(text)
    assert info.value.field == "k7" and info.value.model == "m"
    models = ",".join(f'{{"base_name": "m{i}"}}' for i in range(200_000))
    with pytest.raises(rz.ManifestError) as info:
        rz.parse_manifest('{"models": [%s, {"base_name": "m5"}]}' % models)
    assert "m5" in str(info.value) and info.value.model == "m5"
    assert len(rz.parse_manifest('{"models": [%s]}' % models).models) == 200_000


# ---- found by fuzzing: links that escape only once the top-level directory is stripped ------

STRIP_ESCAPES = {
    "up_to_root": [
        Entry("top", "dir", mode=0o755),
        Entry("top/up", "symlink", target="..", mode=0o777),
    ],
    "through_root": [
        Entry("top", "dir", mode=0o755),
        file("top/x"),
        Entry("top/l", "symlink", target="../top/x", mode=0o777),
    ],
    "chained": [
        Entry("top", "dir", mode=0o755),
        Entry("top/a", "symlink", target=".", mode=0o777),
        Entry("top/b", "symlink", target="a/..", mode=0o777),
    ],
}


@pytest.mark.parametrize("name", sorted(STRIP_ESCAPES))
@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_link_escaping_the_stripped_tree(name, kind, tmp_path, http_server):
    entries = STRIP_ESCAPES[name]
    data = zip_bytes(entries) if kind == "zip" else compress(tar_bytes(entries), kind)
    archive = tmp_path / f"a.{kind}"
    archive.write_bytes(data)
    with pytest.raises(rz.UnsafeArchiveError):
        rz.extract_archive(archive, tmp_path / "stripped")
    assert not (tmp_path / "stripped").exists()
    # Unstripped, the same links stay inside the tree: they are fine.
    rz.extract_archive(archive, tmp_path / "whole", strip_top_level=False)
    assert (tmp_path / "whole" / "top").is_dir()
    # A source archive (always stripped, as GitHub's tarballs) is refused too.
    entries = entries + [file("top/manifest.json", MANIFEST.encode())]
    http_server.serve_bytes(
        f"/s.{kind}", zip_bytes(entries) if kind == "zip" else compress(tar_bytes(entries), kind)
    )
    with pytest.raises(rz.UnsafeArchiveError):
        rz.register_zoo_model_source(http_server.url(f"/s.{kind}"))
    assert rz.list_zoo_model_sources() == []


def test_spec_whose_identity_would_not_parse_back_is_refused():
    """Found by fuzz/fuzz_spec.c: '%XX'-encoding made a local identity longer than a spec may
    be, so it could not be parsed back (a registered source that could not be named)."""
    with pytest.raises(rz.SourceError, match="normalised form is longer"):
        _core.parse_source_spec("./" + "?" * 1500, None, "/work", "/home/u")
    spec = _core.parse_source_spec("./" + "?" * 1300, None, "/work", "/home/u")
    assert (
        _core.parse_source_spec(spec["identity"], None, "/work", "/home/u")["identity"]
        == spec["identity"]
    )
