"""Cache tools: `cache verify` re-hashes against the digest recorded at download, `cache gc`
removes only what no source, model or live process uses, `cache du` and `doctor` report."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers.servers import wait_until
from helpers.zoo import model
from test_generations import Gate, archive

import remotezoo as rz

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "remotezoo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **env),
    )


def snapshot(root: Path, growing: Path) -> dict[str, bytes]:
    """Every path under root and, for files, its bytes (but those below growing, a live
    download's directory)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if growing not in path.parents:
            out[str(path)] = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
    return out


@pytest.fixture
def gated(http_server, tmp_path):
    """An archive source (test_generations' gated one: load_model can be held open) with its
    model downloaded, and a slow manager model of a second archive source."""
    route = http_server.serve_bytes("/gated.tar.gz", archive("v1"))
    spec = http_server.url("/gated.tar.gz")
    rz.register_zoo_model_source(spec)
    rz.download_zoo_model(spec, model_name="gated")
    slow = HeldDownload(os.urandom(1 << 20))
    http_server.route("/slow.bin", slow)
    manifest = {
        "name": "acme/slow",
        "models": [
            {
                "base_name": "slow",
                "base_filename": "slow.bin",
                "manager": {"type": "x", "config": {"url": slow_url(http_server)}},
            },
            {
                "base_name": "quick",
                "base_filename": "quick.bin",
                "manager": {"type": "x", "config": {"url": http_server.url("/quick.bin")}},
            },
        ],
    }
    http_server.serve_bytes("/quick.bin", b"quick bytes")
    from helpers.fake_github import make_tarball

    http_server.serve_bytes(
        "/slow.tar.gz", make_tarball("slow", {"manifest.json": json.dumps(manifest)})
    )
    rz.register_zoo_model_source(http_server.url("/slow.tar.gz"))
    return route, spec, slow


def slow_url(server) -> str:
    return server.url("/slow.bin")


class HeldDownload:
    """A route that sends half of data, then waits for release() before the rest: a download
    that is alive for as long as the test needs."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()

    def __call__(self, request) -> None:
        request.send_response(200)
        request.send_header("Content-Length", str(len(self.data)))
        request.end_headers()
        half = len(self.data) // 2
        request.send_body(self.data[:half])
        self.released.wait(60)
        request.send_body(self.data[half:])


# ---- verify ------------------------------------------------------------------------------------


def test_verify_finds_a_flipped_byte_and_deletes_what_is_corrupt(gated):
    rz.download_zoo_model("quick")
    assert {v.name: v.status for v in rz.verify_zoo_cache()} == {
        gated[1]: "ok",
        "gated": "ok",
        "quick": "ok",
        rz.zoo_model_sources_info()[1]["identity"]: "ok",
    }
    path = Path(rz.find_zoo_model("quick"))
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    run = cli("cache", "verify")
    assert run.returncode == 1
    assert (
        "corrupt" in run.stdout
        and "quick" in run.stdout
        and "1 corrupt or unreadable" in run.stderr
    )
    found = {v.name: v for v in rz.verify_zoo_cache()}
    assert found["quick"].status == "corrupt" and found["gated"].status == "ok"
    assert found["quick"].expected == hashlib.sha256(b"quick bytes").hexdigest()
    assert found["quick"].actual == hashlib.sha256(bytes(data)).hexdigest()
    run = cli("cache", "verify", "--delete", "--json")
    assert {v["name"]: v["status"] for v in json.loads(run.stdout)}["quick"] == "deleted"
    assert not rz.is_zoo_model_downloaded("quick")
    rz.download_zoo_model("quick")
    assert cli("cache", "verify").returncode == 0


def test_verify_finds_a_changed_source_tree_and_a_planted_link(gated):
    rz.download_zoo_model("quick")
    tree = Path(next(s["tree"] for s in rz.zoo_model_sources_info() if s["identity"] == gated[1]))
    (tree / "__init__.py").write_text("# not what was fetched\n")
    path = Path(rz.find_zoo_model("quick"))
    path.unlink()
    path.symlink_to("/etc/hostname")  # a model replaced by a link out of the cache
    found = {v.name: v.status for v in rz.verify_zoo_cache()}
    assert found[gated[1]] == "corrupt" and found["quick"] == "corrupt"


def test_a_model_from_an_older_remotezoo_is_unrecorded(gated):
    rz.download_zoo_model("quick")
    records = Path(rz.home()) / "records"
    for record in records.iterdir():
        record.unlink()
    assert {v.name: v.status for v in rz.verify_zoo_cache() if v.what == "model"} == {
        "gated": "unrecorded",
        "quick": "unrecorded",
    }
    assert cli("cache", "verify").returncode == 0  # unrecorded is no corruption


# ---- gc ----------------------------------------------------------------------------------------


def plant(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_gc_removes_only_what_is_garbage(gated, tmp_path, http_server):
    route, spec, slow = gated
    home = Path(rz.home())
    models = home / "models"
    folder = Path(rz.find_zoo_model("gated")).parent

    # Not garbage: a live download in another process (its directory and its locks) ...
    downloader = subprocess.Popen(
        [sys.executable, "-c", "import remotezoo as rz; rz.download_zoo_model('slow')"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    slow_folder = models / "acme" / "slow"
    assert wait_until(
        lambda: (
            slow_folder.is_dir() and any(p.name.startswith(".rz-") for p in slow_folder.iterdir())
        ),
        30,
    )
    (live,) = [p for p in slow_folder.iterdir() if p.name.startswith(".rz-")]
    # ... a tree a running load pinned, retired by a registration of a new release meanwhile ...
    (old_generation,) = [
        p
        for p in (home / "sources").glob("*/*")
        if not p.name.startswith(".") and "gated" in p.parent.name
    ]
    gate = Gate(tmp_path, spec)
    route.data = archive("v2")
    rz.register_zoo_model_source(spec, overwrite=True)
    assert old_generation.is_dir()
    # ... and what every cache holds: models and their records, extra files, the registry.
    extra = plant(folder / "vocab.txt", "an extra file a download_model wrote")

    # Garbage: what killed processes left, and what deleted sources left.
    dead_download = plant(folder / ".rz-0badf00d-Xy12Z3" / "gated.json")
    trash = plant(models / ".rz-del-k1LLeD" / "0" / "weights.bin")
    orphan = plant(models / "acme" / "deleted" / "old.bin")
    stale_lock = plant(home / "locks" / "model-0123456789abcdef.lock", "")
    killed_registration = plant(old_generation.parent / ".tmp-AbC123" / "tree" / "manifest.json")
    unregistered_tree = plant(
        home / "sources" / "gone_source_0123" / "abcdef123456-XyZ789" / "tree" / "x.py"
    )
    index_temp = plant(home / ".registry.json.tmp-QwErTy", "{")
    import_temp = plant(home / ".rz-import-aBcDeF" / "bundle" / "remotezoo.lock")
    junk_record = plant(home / "records" / "0000000000000000.json", "not a record")

    garbage = {
        dead_download.parent,
        trash.parent.parent,
        orphan.parent,
        stale_lock,
        killed_registration.parent.parent,
        unregistered_tree.parent.parent,
        index_temp,
        import_temp.parent.parent,
        junk_record,
    }

    # The dry run writes nothing and says what it would do.
    before = snapshot(home, live)
    found = {Path(g.path): g for g in rz.gc_zoo_cache()}
    assert snapshot(home, live) == before
    assert {p for p, g in found.items() if g.state == "garbage"} == garbage, found
    assert found[old_generation].state == "in use" and found[old_generation].kind == "retired"
    assert found[live].state == "in use" and found[live].kind == "temporary"
    assert all(found[p].bytes > 0 for p in garbage if p.is_dir())

    run = cli("cache", "gc", "--apply", "--json")
    assert run.returncode == 0, run.stderr
    removed = {Path(g["path"]) for g in json.loads(run.stdout) if g["state"] == "removed"}
    assert removed == garbage
    assert not any(p.exists() for p in garbage)
    assert (
        not unregistered_tree.parent.parent.parent.exists()
    )  # the unregistered source's directory too
    assert live.exists() and old_generation.exists() and extra.exists()
    assert (home / "registry.json").exists() and (home / "trust.json").exists()

    # What was in use finishes as if nothing happened.
    slow.release()
    assert gate.open() == "v1 3"
    out, err = downloader.communicate(timeout=60)
    assert downloader.returncode == 0, err
    assert Path(rz.find_zoo_model("slow")).read_bytes() == slow.data
    assert not old_generation.exists()  # its last user removed it
    assert rz.load_zoo_model(spec, model_name="gated") == ("v2", 3)
    assert {v.status for v in rz.verify_zoo_cache()} == {"ok"}
    assert [g for g in rz.gc_zoo_cache() if g.state == "garbage"] == []


def test_gc_finds_models_of_a_deleted_source_and_their_records(gated, tmp_path):
    rz.download_zoo_model("quick")
    quick = Path(rz.find_zoo_model("quick"))
    records = {p.name for p in (Path(rz.home()) / "records").iterdir()}
    quick.unlink()  # gone without remotezoo: its record is an orphan
    found = [g for g in rz.gc_zoo_cache(apply=True) if g.state == "removed"]
    assert [g.kind for g in found] == ["record"]
    assert len({p.name for p in (Path(rz.home()) / "records").iterdir()}) == len(records) - 1


# ---- du, doctor, read-only --------------------------------------------------------------------


def test_du_sizes_by_source_and_model(gated):
    rz.download_zoo_model("quick")
    usage = rz.zoo_cache_usage()
    by_source = {s.identity: s for s in usage.sources}
    assert set(by_source) == set(rz.list_zoo_model_sources())
    gated_usage = by_source[gated[1]]
    assert [m.name for m in gated_usage.models] == ["gated"] and gated_usage.tree_bytes > 0
    assert (
        usage.total_bytes
        >= sum(s.tree_bytes + s.models_bytes for s in usage.sources) + usage.other_bytes - 1
    )
    run = cli("cache", "du")
    assert run.returncode == 0 and "quick" in run.stdout and "gated" in run.stdout
    doc = json.loads(cli("cache", "du", "--json").stdout)
    assert doc["total_bytes"] == usage.total_bytes or doc["total_bytes"] > 0


def test_doctor_checks_the_token_with_the_api(http_server, monkeypatch):
    def rate_limit(request):
        auth = request.headers.get("Authorization")
        if auth and auth != "Bearer good-token":
            request.respond(401, b'{"message": "Bad credentials"}')
        else:
            request.respond(
                200,
                b"{}",
                {
                    "x-ratelimit-remaining": "4999" if auth else "59",
                    "x-ratelimit-limit": "5000" if auth else "60",
                },
            )

    http_server.route("/rate_limit", rate_limit)
    env = {
        "GITHUB_API_URL": http_server.url("").rstrip("/"),
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    }
    run = cli("doctor", **env)
    assert "59 of 60 API requests left" in run.stdout and "no GITHUB_TOKEN" in run.stdout
    run = cli("doctor", GITHUB_TOKEN="good-token", **env)
    lines = {line.split()[1]: line for line in run.stdout.splitlines()}
    assert lines["github"].startswith("OK") and "GITHUB_TOKEN accepted" in lines["github"]
    assert "4999 of 5000" in lines["github"] and "good-token" not in run.stdout
    run = cli("doctor", GITHUB_TOKEN="bad-token", **env)
    assert (
        run.returncode == 1
        and "refused" in run.stdout
        and "bad-token" not in run.stdout + run.stderr
    )
    run = cli(
        "doctor",
        "--json",
        SSL_CERT_FILE="/nonexistent/ca.pem",
        REMOTEZOO_OFFLINE="1",
        GITHUB_API_URL=env["GITHUB_API_URL"],
    )
    checks = {c["name"]: c for c in json.loads(run.stdout)}
    assert not checks["ca"]["ok"] and "/nonexistent/ca.pem" in checks["ca"]["message"]
    assert checks["github"]["ok"] and "offline" in checks["github"]["message"]
    assert set(checks) == {
        "home",
        "registry",
        "trust",
        "lockfile",
        "ca",
        "proxy",
        "offline",
        "github",
        "versions",
    }


def test_doctor_reports_a_token_it_cannot_send_and_a_server_that_is_not_github(http_server):
    """A token with a line break is not sent (it would be a second header); a rate-limit header
    that is no number is not believed: each is one line of the report, not a crash."""
    seen: list = []

    def rate_limit(request):
        seen.append(request.headers.get("Authorization"))
        request.respond(200, b"{}", {"x-ratelimit-remaining": "lots", "x-ratelimit-limit": "?"})

    http_server.route("/rate_limit", rate_limit)
    env = {
        "GITHUB_API_URL": http_server.url("").rstrip("/"),
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    }
    for token in ("abc\r\nX-Injected: 1", "two words"):
        run = cli("doctor", "--json", GITHUB_TOKEN=token, **env)
        checks = {c["name"]: c for c in json.loads(run.stdout)}
        assert run.returncode == 1 and not checks["github"]["ok"]
        assert "GITHUB_TOKEN is not a valid token" in checks["github"]["message"]
        assert "abc" not in run.stdout + run.stderr and "words" not in run.stdout + run.stderr
    assert seen == []
    run = cli("doctor", "--json", **env)
    checks = {c["name"]: c for c in json.loads(run.stdout)}
    assert checks["github"]["ok"] and "rate limit not reported" in checks["github"]["message"]


def test_a_read_only_cache_reads_and_refuses_to_write(gated, tmp_path):
    rz.download_zoo_model("quick")
    env = {"REMOTEZOO_READ_ONLY": "1"}
    for args in (
        ["cache", "verify"],
        ["cache", "du"],
        ["cache", "gc"],
        ["lock", "-o", str(tmp_path / "l")],
    ):
        run = cli(*args, **env)
        assert run.returncode == 0, (args, run.stderr)
    for args in (
        ["cache", "gc", "--apply"],
        ["cache", "verify", "--delete"],
        ["sync", str(tmp_path / "l")],
        ["import", str(tmp_path / "nothing.tar.zst")],
    ):
        run = cli(*args, **env)
        assert run.returncode == 1 and "read-only" in run.stderr, (args, run.stderr)


@pytest.fixture
def read_only_mount(tmp_path):
    """A read-only bind mount of the home (root only; skipped elsewhere)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    home = rz.home()
    if subprocess.run(["mount", "--bind", home, str(mount)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts need root")
    try:
        if (
            subprocess.run(
                ["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True
            ).returncode
            != 0
        ):
            pytest.skip("cannot remount read-only")
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_on_a_read_only_mount_reading_works_and_writing_says_why_not(
    gated, read_only_mount, tmp_path
):
    env = {"REMOTEZOO_HOME": str(read_only_mount), "REMOTEZOO_OFFLINE": "1"}
    lock = tmp_path / "ro.lock"
    for args in (["cache", "verify"], ["cache", "du"], ["cache", "gc"], ["lock", "-o", str(lock)]):
        run = cli(*args, **env)
        assert run.returncode == 0, (args, run.stderr)
    for args in (["cache", "gc", "--apply"], ["sync", str(lock)]):
        run = cli(*args, **env)
        assert run.returncode == 1 and "read-only" in run.stderr, (args, run.stderr)


# ---- the record of each download ---------------------------------------------------------------

RANDOM_INIT = """
import os

def download_model(model_name, model_path):
    with open(model_path, "wb") as f:
        f.write(os.urandom(1000))

def load_model(model_name, model_path, **kwargs):
    return open(model_path, "rb").read()
"""


def test_every_download_records_its_digest_and_a_removal_removes_it(tmp_path):
    from helpers.zoo import write_source

    src = write_source(tmp_path / "zoo", [model("r")], init=RANDOM_INIT, name="acme/random")
    rz.register_zoo_model_source(str(src))
    _, path = rz.download_zoo_model("r")  # no sha256 declared: recorded all the same
    records = Path(rz.home()) / "records"
    (record,) = records.iterdir()
    doc = json.loads(record.read_text())
    assert doc["name"] == "r" and doc["kind"] == "file" and doc["size"] == 1000
    assert doc["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert doc["path"] == os.path.relpath(path, Path(rz.home()) / "models")
    rz.download_zoo_model("r", overwrite=True)  # other bytes: another digest
    assert (
        json.loads(record.read_text())["sha256"]
        == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    )
    assert {v.status for v in rz.verify_zoo_cache()} == {"ok"}
    rz.delete_zoo_model("r")
    assert list(records.iterdir()) == []
    rz.download_zoo_model("r")
    rz.delete_zoo_model_source(str(src))
    assert [g.kind for g in rz.gc_zoo_cache(apply=True) if g.state == "removed"] == ["record"]
