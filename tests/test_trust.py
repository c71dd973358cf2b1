"""Trust keyed to content: a GitHub source's commit, an archive's sha256, a local directory's
registering user. Every path that runs a source's code checks it (download_model, load_model,
the remotezoo._sources finder of worker processes, requirements entrypoints, the type of a
default_deployment_config_dict); listing never needs it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.fake_github import make_tarball
from helpers.zoo import SIMPLE_INIT, calls, model, write_source
from test_cache import cli

import remotezoo as rz

ROOT = Path(__file__).resolve().parent.parent

# SIMPLE_INIT, plus a class whose instances pickle into workers (module remotezoo._sources.*).
PICKLING_INIT = (
    SIMPLE_INIT
    + """

class Thing:
    def __init__(self, value):
        self.value = value
"""
)


def files(*names: str, init: str = SIMPLE_INIT, extra: dict | None = None) -> dict[str, str]:
    models = [
        {"base_name": n, "base_filename": f"{n}.json", "version": "1.0", **(extra or {})}
        for n in names
    ]
    return {
        "manifest.json": json.dumps({"name": "acme/zoo", "models": models}),
        "__init__.py": init,
    }


def sha_of(identity: str) -> str:
    return next(s["sha"] for s in rz.zoo_model_sources_info() if s["identity"] == identity)


# ---- the force-pushed branch --------------------------------------------------------------------


def test_strict_refuses_a_force_pushed_branch_until_trusted_again(github, monkeypatch, tmp_path):
    log = tmp_path / "calls.log"
    repo = github.add_repo("acme/models", files("alpha"), ref="main")
    spec = f"{github.api_url}/acme/models/tree/main"
    rz.register_zoo_model_source(spec)
    first = sha_of(spec)
    monkeypatch.setenv("REMOTEZOO_TRUST", "strict")

    # Not trusted: nothing of the source runs, and the error names the command that trusts it.
    with pytest.raises(rz.UntrustedSourceError) as refused:
        rz.load_zoo_model("alpha")
    assert f"remotezoo sources trust {spec} --at {first}" in str(refused.value)
    assert calls(log) == [] and not rz.is_zoo_model_downloaded("alpha")

    rz.trust_zoo_model_source(spec)
    assert rz.load_zoo_model("alpha").predict(2) == 6
    assert calls(log) == ["download:alpha@1.0", "load:alpha@1.0"]

    # Force-pushed: the same branch names other code. Registering again fetches it; listing and
    # inspecting never run code, so they work; running it is refused until it is trusted again.
    evil = SIMPLE_INIT.replace('"scale": 3', '"scale": 300')
    second = repo.commit(files("alpha", init=evil), ref="main")
    assert second != first
    rz.register_zoo_model_source(spec, overwrite=True)
    assert sha_of(spec) == second
    assert rz.list_zoo_models() == ["alpha@1.0"]
    assert rz.get_zoo_model("alpha").version == "1.0"
    assert [s["trusted"] for s in rz.zoo_model_sources_info()] == [False]
    for run in (
        lambda: rz.load_zoo_model("alpha", cache=False),
        lambda: rz.download_zoo_model("alpha", overwrite=True),
        lambda: rz.get_zoo_model("alpha").load_model(),
    ):
        with pytest.raises(rz.UntrustedSourceError, match=f"--at {second}"):
            run()
    assert calls(log) == ["download:alpha@1.0", "load:alpha@1.0"]  # nothing of the new code ran

    # The old decision is not the new one: trusting "at" the old commit is refused.
    with pytest.raises(rz.UntrustedSourceError, match="not " + first):
        rz.trust_zoo_model_source(spec, at=first)
    run = cli("sources", "trust", spec, "--at", second)
    assert run.returncode == 0, run.stderr
    assert second in run.stdout
    assert rz.load_zoo_model("alpha", cache=False).predict(2) == 6


def test_sources_list_shows_trust_and_untrust_drops_it(github, monkeypatch):
    github.add_repo("acme/models", files("alpha"))
    rz.register_zoo_model_source("acme/models")
    run = cli("sources", "list")
    assert run.stdout.splitlines()[0].split()[-1] == "trusted"
    assert "yes" not in run.stdout
    assert cli("sources", "trust", "acme/models").returncode == 0
    assert cli("sources", "list").stdout.splitlines()[2].split()[-1] == "yes"
    assert json.loads(cli("sources", "list", "--json").stdout)[0]["trusted"] is True
    assert rz.untrust_zoo_model_source("acme/models") == 1
    with pytest.raises(rz.UntrustedSourceError):
        rz.load_zoo_model("alpha", trust="strict")


# ---- warn (the default) and the keyword -------------------------------------------------------


def test_warn_runs_untrusted_code_and_says_so_once_per_new_commit(github, caplog):
    caplog.set_level(logging.WARNING, logger="remotezoo")
    repo = github.add_repo("acme/models", files("alpha"))
    rz.register_zoo_model_source("acme/models")
    assert rz.load_zoo_model("alpha").predict(2) == 6
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "untrusted code" in warnings[0] and "__init__.py" in warnings[0]
    assert "remotezoo sources trust" in warnings[0]
    caplog.clear()
    rz.load_zoo_model("alpha", cache=False)
    rz.download_zoo_model("alpha", overwrite=True)
    assert caplog.records == []  # once per commit, not per call
    repo.commit(files("alpha", "beta"))
    rz.register_zoo_model_source("acme/models", overwrite=True)
    rz.load_zoo_model("beta")
    assert len(caplog.records) == 1 and repo.refs["HEAD"] in caplog.records[0].getMessage()


def test_the_keyword_overrides_the_environment(github, monkeypatch):
    github.add_repo("acme/models", files("alpha"))
    rz.register_zoo_model_source("acme/models")
    with pytest.raises(rz.UntrustedSourceError):
        rz.download_zoo_model("alpha", trust="strict")
    monkeypatch.setenv("REMOTEZOO_TRUST", "strict")
    rz.download_zoo_model("alpha", trust="warn")
    with pytest.raises(ValueError, match="trust= must be one of warn, prompt, strict"):
        rz.load_zoo_model("alpha", trust="sometimes")
    monkeypatch.setenv("REMOTEZOO_TRUST", "yes please")
    with pytest.raises(ValueError, match="REMOTEZOO_TRUST must be one of"):
        rz.load_zoo_model("alpha")


# ---- prompt ----------------------------------------------------------------------------------


def test_prompt_refuses_when_nobody_can_answer(github, monkeypatch):
    github.add_repo("acme/models", files("alpha"))
    rz.register_zoo_model_source("acme/models")
    monkeypatch.setenv("REMOTEZOO_TRUST", "prompt")
    with pytest.raises(rz.UntrustedSourceError, match="nobody can answer"):
        rz.download_zoo_model("alpha")  # pytest's stdin is no terminal


@pytest.mark.parametrize("answer, trusted", [("y", True), ("n", False)])
def test_prompt_asks_on_a_terminal(github, tmp_path, answer, trusted):
    import pty

    github.add_repo("acme/models", files("alpha"))
    rz.register_zoo_model_source("acme/models")
    code = "import remotezoo as rz\nprint('RESULT', rz.load_zoo_model('alpha').predict(2))\n"
    pid, fd = pty.fork()
    if pid == 0:  # the child: a process on a terminal
        os.environ["REMOTEZOO_TRUST"] = "prompt"
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-c", code])
    out = b""
    while b"[y/N]" not in out:
        out += os.read(fd, 4096)
    os.write(fd, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "__init__.py" in text and "Trust and run it?" in text
    assert ("RESULT 6" in text) is trusted
    assert (os.waitstatus_to_exitcode(status) == 0) is trusted
    assert [s["trusted"] for s in rz.zoo_model_sources_info()] == [trusted]


# ---- every path that runs code -----------------------------------------------------------------


def test_a_worker_unpickling_an_object_of_the_source_checks_trust(github, tmp_path):
    github.add_repo("acme/models", files("alpha", init=PICKLING_INIT))
    rz.register_zoo_model_source("acme/models")
    rz.load_zoo_model("alpha")
    from remotezoo import _core

    module = sys.modules[_core.resolve_model(rz.home(), "alpha", None)["module"]]
    blob = tmp_path / "thing.pickle"
    blob.write_bytes(pickle.dumps(module.Thing(7)))
    code = f"import pickle; print(pickle.loads(open({str(blob)!r}, 'rb').read()).value)"

    def unpickle() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, REMOTEZOO_TRUST="strict"),
        )

    refused = unpickle()
    assert refused.returncode != 0 and "UntrustedSourceError" in refused.stderr
    assert "import of its package" in refused.stderr
    rz.trust_zoo_model_source("acme/models")
    ok = unpickle()
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "7"


ENTRYPOINT_PACKAGES = {"entrypoint_fcn": "remotezoo_trust_probe.packages", "entrypoint_args": {}}


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """An importable module whose function records that it ran (the code a manifest names)."""
    (tmp_path / "remotezoo_trust_probe.py").write_text(
        textwrap.dedent("""
        RAN = []
        def packages():
            RAN.append(1)
            return ["pytest"]
        class Built:
            def __init__(self, model_path=None, **config):
                RAN.append(2)
                self.model_path = model_path
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import remotezoo_trust_probe

    yield remotezoo_trust_probe
    sys.modules.pop("remotezoo_trust_probe", None)


def test_requirement_entrypoints_and_config_types_are_code_of_the_source(
    github, probe_module, monkeypatch
):
    manifest = {
        "name": "acme/zoo",
        "models": [
            {
                "base_name": "ep",
                "base_filename": "ep.json",
                "requirements": {"packages": ENTRYPOINT_PACKAGES},
                "manager": {"type": "x", "config": {"url": github.download.url("/w")}},
            },
            {
                "base_name": "built",
                "base_filename": "built.json",
                "default_deployment_config_dict": {
                    "type": "remotezoo_trust_probe.Built",
                    "config": {},
                },
                "manager": {"type": "x", "config": {"url": github.download.url("/w")}},
            },
        ],
    }
    github.download.serve_bytes("/w", b"weights")
    github.add_repo("acme/models", {"manifest.json": json.dumps(manifest)})
    rz.register_zoo_model_source("acme/models")
    monkeypatch.setenv("REMOTEZOO_TRUST", "strict")
    rz.download_zoo_model("ep")  # a manager download runs no code of the source: no trust needed
    with pytest.raises(
        rz.UntrustedSourceError, match="requirements entrypoint 'remotezoo_trust_probe.packages'"
    ):
        rz.ensure_zoo_model_requirements("ep")
    with pytest.raises(rz.UntrustedSourceError):
        rz.install_zoo_model_requirements("ep")
    with pytest.raises(rz.UntrustedSourceError):
        rz.get_zoo_model("ep").ensure_requirements()
    with pytest.raises(rz.UntrustedSourceError, match="default_deployment_config_dict type"):
        rz.load_zoo_model("built", ensure_requirements=False)
    assert probe_module.RAN == []
    rz.trust_zoo_model_source("acme/models")
    assert rz.ensure_zoo_model_requirements("ep") is True
    assert rz.load_zoo_model("built").model_path.endswith("built.json")
    assert probe_module.RAN == [1, 2]


def test_a_manifest_of_no_source_names_no_trusted_code(probe_module, monkeypatch, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps(
            {"models": [{"base_name": "ep", "requirements": {"packages": ENTRYPOINT_PACKAGES}}]}
        )
    )
    (entry,) = rz.load_manifest(path).models
    monkeypatch.setenv("REMOTEZOO_TRUST", "strict")
    with pytest.raises(rz.UntrustedSourceError, match="no registered source"):
        entry.ensure_requirements()
    assert probe_module.RAN == []


def test_the_command_a_refusal_names_is_safe_to_paste_into_a_shell(tmp_path, monkeypatch):
    """An identity is a stranger's URL or directory name: the suggested command quotes it, so
    pasting it runs remotezoo with that one argument and nothing else."""
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    src = write_source(tmp_path / "it's $(touch pwned) `touch pwned2`", [model("m")])
    rz.register_zoo_model_source(str(src))
    rz.untrust_zoo_model_source(str(src))
    with pytest.raises(rz.UntrustedSourceError) as refused:
        rz.load_zoo_model("m", trust="strict")
    command = str(refused.value).rsplit("trust it with: ", 1)[1]
    # The shell sees exactly the argv remotezoo meant: echo each word the shell makes of it.
    shown = subprocess.run(
        ["sh", "-c", f"set -- {command}; printf '%s\\n' \"$@\""],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown == ["remotezoo", "sources", "trust", *rz.list_zoo_model_sources()]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


# ---- local directories and archives ---------------------------------------------------------------


def test_a_local_directory_is_trusted_by_the_user_who_registered_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    src = write_source(tmp_path / "zoo", [model("m")])
    rz.register_zoo_model_source(str(src))
    monkeypatch.setenv("REMOTEZOO_TRUST", "strict")
    assert rz.load_zoo_model("m").predict(2) == 6
    (src / "__init__.py").write_text(SIMPLE_INIT.replace('"scale": 3', '"scale": 5'))
    assert (
        rz.load_zoo_model("m", cache=False).predict(2) == 6
    )  # edits: still the user's own directory
    assert rz.untrust_zoo_model_source(str(src)) == 1
    with pytest.raises(rz.UntrustedSourceError, match="local source"):
        rz.load_zoo_model("m", cache=False)
    rz.trust_zoo_model_source(str(src))
    rz.load_zoo_model("m", cache=False)


def test_an_archive_source_is_trusted_at_its_sha256(http_server, monkeypatch, tmp_path):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    first = make_tarball("zoo", files("alpha"))
    route = http_server.serve_bytes("/zoo.tar.gz", first)
    url = http_server.url("/zoo.tar.gz")
    rz.register_zoo_model_source(url)
    (info,) = rz.zoo_model_sources_info()
    assert info["archive_sha256"] == route.sha256 and info["sha"] is None
    rz.trust_zoo_model_source(url, at=route.sha256)
    assert rz.load_zoo_model("alpha", trust="strict").predict(2) == 6
    # Another archive at the same URL is other content.
    route.data = make_tarball(
        "zoo", files("alpha", init=SIMPLE_INIT.replace("* self.scale", "* 0"))
    )
    route.etag = '"v2"'
    rz.register_zoo_model_source(url, overwrite=True)
    assert rz.zoo_model_sources_info()[0]["archive_sha256"] == route.sha256
    with pytest.raises(rz.UntrustedSourceError, match=f"archive sha256 {route.sha256}"):
        rz.load_zoo_model("alpha", trust="strict", cache=False)


# ---- a trust store that was edited -----------------------------------------------------------------


def test_a_trust_store_others_may_write_is_not_believed(github, monkeypatch):
    github.add_repo("acme/models", files("alpha"))
    rz.register_zoo_model_source("acme/models")
    rz.trust_zoo_model_source("acme/models")
    store = Path(rz.home()) / "trust.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    store.chmod(0o666)
    with pytest.raises(rz.TrustStoreError, match="writable by others"):
        rz.load_zoo_model("alpha", trust="strict")
    store.chmod(0o600)
    rz.load_zoo_model("alpha", trust="strict")


def test_a_decision_edited_in_is_keyed_to_the_tree_too(github, monkeypatch):
    # Someone adds a decision for the registered commit by hand, but for another tree (as a
    # bundle that claims a trusted commit for other files would need): it trusts nothing.
    github.add_repo("acme/models", files("alpha"))
    rz.register_zoo_model_source("acme/models")
    (info,) = rz.zoo_model_sources_info()
    store = Path(rz.home()) / "trust.json"
    store.write_text(
        json.dumps(
            {
                "format": 1,
                "seen": [],
                "trusted": [
                    {
                        "source": info["identity"],
                        "source_sha256": hashlib.sha256(info["identity"].encode()).hexdigest(),
                        "kind": "github",
                        "content": info["sha"],
                        "tree_sha256": "0" * 64,
                        "uid": os.geteuid(),
                        "trusted_at": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        )
    )
    store.chmod(0o600)
    with pytest.raises(rz.UntrustedSourceError):
        rz.load_zoo_model("alpha", trust="strict")
    store.write_text('{"format": 1, "trusted": [{"source": 1}]}')
    with pytest.raises(rz.TrustStoreError, match="damaged"):
        rz.load_zoo_model("alpha", trust="strict")


def test_no_token_in_a_refusal(http_server, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    http_server.serve_bytes("/zoo.tar.gz", make_tarball("zoo", files("alpha")))
    url = http_server.url("/zoo.tar.gz?token=SECRET-TOKEN-42")
    rz.register_zoo_model_source(url)
    with pytest.raises(rz.UntrustedSourceError) as refused:
        rz.load_zoo_model("alpha", trust="strict")
    assert "SECRET-TOKEN-42" not in str(refused.value) and "token=REDACTED" in str(refused.value)
    rz.load_zoo_model("alpha")  # warn: logged
    assert caplog.records and not any("SECRET-TOKEN-42" in r.getMessage() for r in caplog.records)
    rz.trust_zoo_model_source(url)
    assert "SECRET-TOKEN-42" not in (Path(rz.home()) / "trust.json").read_text()
