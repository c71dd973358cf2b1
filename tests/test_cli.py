"""The ``remotezoo`` command line, driven as a subprocess (``python -m remotezoo``): every
verb, tables and ``--json``, one-line errors and exit codes, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
from helpers.fake_github import FakeGitHub
from helpers.servers import LoopbackServer, leftovers, wait_until
from helpers.zoo import SIMPLE_INIT, calls, model, url_model, write_source

ROOT = Path(__file__).resolve().parent.parent


class Run:
    """The outcome of one command: exit code, stdout, stderr."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code: int = proc.returncode
        self.out: str = proc.stdout
        self.err: str = proc.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.out}\nstderr: {self.err}>"


def rz(*args: str, env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None) -> Run:
    """Run ``python -m remotezoo ARGS`` from the worktree (so its remotezoo/ is imported)."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "remotezoo", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc)


def ok(*args: str, **kw: Any) -> Run:
    run = rz(*args, **kw)
    assert run.code == 0, run
    return run


def assert_one_line_error(run: Run, code: int, *needles: str) -> None:
    assert run.code == code, run
    assert run.out == "", run
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("remotezoo: error: "), run
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in lines[0], run


@pytest.fixture(autouse=True)
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "calls.log"
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(path))
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_source(
        tmp_path / "src",
        [
            model("alpha", "1.0", tags=["vision", "small"], license="MIT"),
            model("alpha", "2.0", tags=["vision"], license="MIT", description="the newer one"),
            model("beta", tags=["text"], license="Apache-2.0", custom_field={"kept": True}),
        ],
        name="acme/zoo",
    )


# ---- help, version, usage errors -----------------------------------------------------------


VERBS = [
    [],
    ["sources"],
    ["sources", "list"],
    ["sources", "register"],
    ["sources", "delete"],
    ["models"],
    ["models", "list"],
    ["models", "info"],
    ["models", "download"],
    ["models", "delete"],
    ["models", "requirements"],
    ["models", "list-downloaded"],
    ["sources", "trust"],
    ["sources", "untrust"],
    ["lock"],
    ["sync"],
    ["cache"],
    ["cache", "du"],
    ["cache", "verify"],
    ["cache", "gc"],
    ["doctor"],
    ["export"],
    ["import"],
]


@pytest.mark.parametrize("words", VERBS, ids=lambda w: " ".join(w) or "top")
def test_help_everywhere(words: list[str]) -> None:
    run = ok(*words, "--help")
    assert run.out.startswith("usage: remotezoo"), run
    assert " ".join(["remotezoo", *words]) in run.out.splitlines()[0]
    assert run.err == ""


def test_version() -> None:
    run = ok("--version")
    line = run.out.strip()
    assert len(run.out.splitlines()) == 1
    assert (
        line.startswith("remotezoo 0.")
        and "libcurl" in line
        and "libarchive" in line
        and "cjson" in line
    )


def test_console_script_entry_point_is_main() -> None:
    import remotezoo.__main__ as cli

    text = (ROOT / "pyproject.toml").read_text()
    assert 'remotezoo = "remotezoo.__main__:main"' in text
    assert callable(cli.main)


@pytest.mark.parametrize(
    "args, needle",
    [
        ([], "{sources,models,lock,sync,cache,doctor,export,import}"),
        (["models"], "remotezoo models --help"),
        (["models", "bogus"], "invalid choice: 'bogus'"),
        (["sources", "register"], "SPEC"),
        (["models", "info"], "NAME"),
        (["models", "list", "--bogus"], "--bogus"),
        (["models", "requirements", "x", "--install", "--ensure"], "not allowed with argument"),
        (["--no-such-option", "sources", "list"], "--no-such-option"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], needle: str) -> None:
    assert_one_line_error(rz(*args), 2, needle, "--help")


# ---- sources --------------------------------------------------------------------------------


def test_sources_register_list_delete(source: Path) -> None:
    assert ok("sources", "list").out.strip().startswith("No sources registered")
    assert ok("sources", "list", "--json").json() == []

    run = ok("sources", "register", str(source))
    assert f"Registered file://{source} (3 models)" in run.out
    assert "alpha@2.0" in run.out and "beta" in run.out

    table = ok("sources", "list").out.splitlines()
    assert table[0].split() == [
        "source",
        "kind",
        "ref",
        "commit",
        "models",
        "registered",
        "trusted",
    ]
    assert table[2].split()[:3] == [f"file://{source}", "local", "3"]

    data = ok("--json", "sources", "list").json()  # --json before the command works too
    assert [(s["identity"], s["kind"], s["models"]) for s in data] == [
        (f"file://{source}", "local", 3)
    ]
    assert data[0]["spec"] == str(source) and data[0]["registered_at"]

    again = ok(
        "sources", "register", str(source) + "/", "--json"
    ).json()  # one source, however spelled
    assert again == {"source": f"file://{source}", "models": ["alpha@1.0", "alpha@2.0", "beta"]}
    assert len(ok("sources", "list", "--json").json()) == 1

    deleted = ok("sources", "delete", str(source), "--json").json()
    assert deleted == {"deleted": f"file://{source}"}
    assert ok("sources", "list", "--json").json() == []


def test_sources_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_one_line_error(
        rz("sources", "register", str(tmp_path / "missing")), 1, "not a directory"
    )
    assert_one_line_error(rz("sources", "delete", str(tmp_path / "never")), 1, "not registered")
    assert_one_line_error(rz("sources", "register", "not a spec at all!"), 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(rz("sources", "register", str(empty)), 1, "no manifest.json")
    # "dir/sub" is read as GitHub's user/repo; when such a directory exists, say how to mean it.
    write_source(tmp_path / "local" / "zoo", [model("m")])
    run = rz("sources", "register", "local/zoo", cwd=tmp_path, env={"REMOTEZOO_OFFLINE": "1"})
    assert_one_line_error(run, 1, "./local/zoo")
    assert ok("sources", "list", "--json").json() == []


def test_github_source_through_the_cli(
    http_server: LoopbackServer, http_server2: LoopbackServer, tmp_path: Path, log: Path
) -> None:
    gh = FakeGitHub(http_server, http_server2)
    files = {
        "manifest.json": json.dumps({"name": "octo/zoo", "models": [model("gh-model", "1.0")]}),
        "__init__.py": SIMPLE_INIT,
    }
    repo = gh.add_repo("octo/zoo", files)
    env = {"GITHUB_API_URL": gh.api_url, "GITHUB_SERVER_URL": gh.api_url}
    reg = ok("sources", "register", "octo/zoo", "--json", env=env).json()
    assert reg["models"] == ["gh-model@1.0"]
    [info] = ok("sources", "list", "--json", env=env).json()
    assert info["kind"] == "github" and info["sha"] == repo.refs["HEAD"]
    assert repo.refs["HEAD"][:12] in ok("sources", "list", env=env).out
    got = ok("models", "download", "gh-model", "--json", env=env).json()
    assert Path(got["model_path"]).is_file() and got["downloaded_now"] is True
    assert calls(log) == ["download:gh-model@1.0"]
    # The API is down now: what is registered and downloaded still works offline.
    http_server.close()
    assert ok("models", "list", "-n", env=env).out.split() == ["gh-model@1.0"]


# ---- models ---------------------------------------------------------------------------------


def test_models_list_filters_and_json(source: Path, tmp_path: Path) -> None:
    assert ok("models", "list").out.strip() == "No models."
    ok("sources", "register", str(source))
    table = ok("models", "list").out.splitlines()
    assert table[0].split() == ["model", "downloaded", "tags", "license"]
    assert [line.split()[0] for line in table[2:]] == ["alpha@1.0", "alpha@2.0", "beta"]
    assert ok("models", "list", "-n", "--tags", "vision").out.split() == ["alpha@1.0", "alpha@2.0"]
    assert ok("models", "list", "-n", "--tags", "vision,small").out.split() == ["alpha@1.0"]
    assert ok("models", "list", "-n", "--license", "Apache-2.0,GPL").out.split() == ["beta"]
    assert ok("models", "list", "-n", "--json", "-t", "text").json() == ["beta"]
    assert ok("models", "list", "-n", "-d").out == ""  # nothing downloaded yet
    entries = ok("models", "list", "--json", "--source", str(source)).json()
    assert [e["name"] for e in entries] == ["alpha@1.0", "alpha@2.0", "beta"]
    assert entries[0] == {
        "name": "alpha@1.0",
        "source": f"file://{source}",
        "version": "1.0",
        "tags": ["vision", "small"],
        "license": "MIT",
        "downloaded": False,
    }
    # A second source adds a source column to the table.
    other = write_source(tmp_path / "other", [model("gamma")], name="other")
    ok("sources", "register", str(other))
    table = ok("models", "list").out.splitlines()
    assert table[0].split()[-1] == "source" and table[-1].split()[0] == "gamma"
    assert_one_line_error(rz("models", "list", "--source", str(tmp_path / "unregistered")), 1)


def test_models_info(source: Path) -> None:
    ok("sources", "register", str(source))
    text = ok("models", "info", "alpha").out
    assert "alpha@2.0" in text and "the newer one" in text and "downloaded: no" in text
    data = ok("models", "info", "beta", "--json").json()
    assert data["name"] == "beta" and data["source"] == f"file://{source}"
    assert data["downloaded"] is False and data["model_path"].endswith("/models/acme/zoo/beta.json")
    assert data["manifest"]["custom_field"] == {"kept": True}  # unknown fields kept
    assert ok("models", "info", "alpha@1.0", "--json").json()["manifest"]["tags"] == [
        "vision",
        "small",
    ]
    assert_one_line_error(rz("models", "info", "nothing-here"), 1, "nothing-here")


def test_models_download_list_downloaded_delete(source: Path, log: Path) -> None:
    ok("sources", "register", str(source))
    run = ok("models", "download", "alpha")
    path = run.out.strip().rsplit(" ", 1)[-1]
    assert run.out.startswith("Downloaded alpha@2.0 to ") and Path(path).is_file()
    assert json.loads(Path(path).read_text())["name"] == "alpha@2.0"
    again = ok("models", "download", "alpha", "--json").json()
    assert again == {
        "name": "alpha@2.0",
        "source": f"file://{source}",
        "model_path": path,
        "downloaded_now": False,
    }
    assert "already downloaded" in ok("models", "download", "alpha").out
    assert calls(log) == ["download:alpha@2.0"]
    assert (
        ok("models", "download", "alpha", "--overwrite", "--json").json()["downloaded_now"] is True
    )
    assert calls(log) == ["download:alpha@2.0"] * 2

    listed = ok("models", "list-downloaded", "--json").json()
    du = ok("cache", "du", "--json").json()["sources"][0]["models"]
    assert listed == [
        {
            "name": "alpha@2.0",
            "source": f"file://{source}",
            "model_path": path,
            "size_bytes": Path(path).stat().st_blocks * 512,  # on disk, as cache du counts
        }
    ]
    assert [(m["name"], m["bytes"]) for m in du] == [("alpha@2.0", listed[0]["size_bytes"])]
    table = ok("models", "list-downloaded").out.splitlines()
    assert table[0].split() == ["model", "size", "path"] and table[2].split()[0] == "alpha@2.0"
    assert "yes" in next(
        line for line in ok("models", "list").out.splitlines() if "alpha@2.0" in line
    )
    assert ok("models", "list", "--downloaded-only", "-n").out.split() == ["alpha@2.0"]

    assert ok("models", "delete", "alpha", "--json").json() == {
        "name": "alpha@2.0",
        "source": f"file://{source}",
        "deleted": True,
    }
    assert not Path(path).exists()
    assert "not downloaded" in ok("models", "delete", "alpha").out
    assert ok("models", "list-downloaded").out.strip() == "No models downloaded."
    assert ok("models", "list-downloaded", "--json").json() == []
    assert_one_line_error(rz("models", "download", "ghost"), 1, "ghost")
    assert_one_line_error(rz("models", "delete", "ghost"), 1, "ghost")


def test_download_with_source_registers_it(source: Path) -> None:
    got = ok("models", "download", "beta", "--source", str(source), "--json").json()
    assert Path(got["model_path"]).is_file()
    assert [s["identity"] for s in ok("sources", "list", "--json").json()] == [f"file://{source}"]


def test_same_model_in_two_sources_needs_source(tmp_path: Path) -> None:
    one = write_source(tmp_path / "one", [model("dup", "1.0")], name="one")
    two = write_source(tmp_path / "two", [model("dup", "1.0")], name="two")
    ok("sources", "register", str(one))
    ok("sources", "register", str(two))
    assert_one_line_error(rz("models", "info", "dup"), 1, f"file://{one}", f"file://{two}")
    assert (
        ok("models", "info", "dup", "--source", str(two), "--json").json()["source"]
        == f"file://{two}"
    )
    got = ok("models", "download", "dup", "--source", str(two), "--json").json()
    assert "/models/two/" in got["model_path"]


def test_manager_download_from_loopback(http_server: LoopbackServer, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    http_server.serve_bytes("/weights.bin", data)
    src = write_source(
        tmp_path / "mgr",
        [
            url_model(
                "weights",
                "weights.bin",
                http_server.url("/weights.bin"),
                hashlib.sha256(data).hexdigest(),
            )
        ],
        init=None,
        name="mgr",
    )
    ok("sources", "register", str(src))
    got = ok("models", "download", "weights", "--json").json()
    assert Path(got["model_path"]).read_bytes() == data
    assert leftovers(Path(got["model_path"]).parent) == []


def test_download_errors_are_one_line(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/gone.bin", b"", fail_first=100, fail_status=404)
    src = write_source(
        tmp_path / "bad",
        [
            url_model("gone", "gone.bin", http_server.url("/gone.bin?sig=SECRET")),
            model("boom"),
        ],
        name="bad",
        init="""
        def download_model(model_name, model_path):
            raise RuntimeError("boom on line one\\nand a second line")
        """,
    )
    ok("sources", "register", str(src))
    run = rz("models", "download", "gone")
    assert_one_line_error(run, 1, "404", "/gone.bin")
    assert "SECRET" not in run.err
    # An exception from the source's own code: still one line, and the type is named.
    run = rz("models", "download", "boom")
    assert_one_line_error(run, 1, "RuntimeError", "boom on line one and a second line")
    models_dir = Path(os.environ["REMOTEZOO_HOME"]) / "models" / "bad"
    assert (
        not models_dir.exists()
        or leftovers(models_dir) == []
        and not (models_dir / "gone.bin").exists()
    )
    # -vv shows the traceback for those who ask.
    assert "Traceback" in rz("-vv", "models", "download", "boom").err


def test_requirements(tmp_path: Path) -> None:
    fake_pip = tmp_path / "fake_pip.py"
    record = tmp_path / "pip-args.json"
    fake_pip.write_text(
        "import json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.exit(0 if 'fail-me' not in sys.argv else 3)\n"
    )
    src = write_source(
        tmp_path / "req",
        [
            model("needs-missing", requirements={"packages": ["surely-not-installed-pkg-0xyz"]}),
            model("needs-pytest", requirements={"packages": ["pytest"]}),
            model("needs-fail", requirements={"packages": ["fail-me"]}),
            model("plain"),
        ],
        name="req",
    )
    ok("sources", "register", str(src))

    run = ok("models", "requirements", "needs-missing")
    assert "surely-not-installed-pkg-0xyz" in run.out and "satisfied: no" in run.out
    data = ok("models", "requirements", "needs-missing", "--json").json()
    assert data == {
        "name": "needs-missing",
        "source": f"file://{src}",
        "requirements": ["surely-not-installed-pkg-0xyz"],
        "satisfied": False,
    }
    assert_one_line_error(
        rz("models", "requirements", "needs-missing", "--ensure"),
        1,
        "requires that 'surely-not-installed-pkg-0xyz' is installed",
    )
    assert (
        ok("models", "requirements", "needs-pytest", "--ensure", "--json").json()["satisfied"]
        is True
    )
    assert "(no requirements)" in ok("models", "requirements", "plain").out

    env = {"REMOTEZOO_PIP": json.dumps([sys.executable, str(fake_pip)])}
    ok("models", "requirements", "needs-missing", "--install", env=env)
    assert json.loads(record.read_text()) == ["surely-not-installed-pkg-0xyz"]
    assert_one_line_error(
        rz("models", "requirements", "needs-fail", "--install", env=env),
        1,
        "pip exited with code 3",
    )
    # --error-level 1: warn (on stderr) and go on; the summary says it is not satisfied.
    run = ok("models", "requirements", "needs-missing", "-e", "--error-level", "1", "--json")
    assert run.json()["satisfied"] is False and "surely-not-installed-pkg-0xyz" in run.err


# ---- output discipline, logging, Ctrl-C ------------------------------------------------------


def test_json_stdout_is_pure_while_logs_go_to_stderr(source: Path) -> None:
    run = ok("-v", "sources", "register", str(source), "--json")
    assert run.json()["source"] == f"file://{source}"
    assert "remotezoo: Registered source" in run.err
    run = ok("models", "download", "beta", "--json", "-v")
    assert run.json()["name"] == "beta" and "downloaded" in run.err


def test_ctrl_c_is_one_line_exit_130_and_leaves_nothing(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    data = os.urandom(2_000_000)
    route = http_server.serve_bytes("/slow.bin", data, trickle=(16 * 1024, 0.05))
    src = write_source(
        tmp_path / "slow",
        [url_model("slow", "slow.bin", http_server.url("/slow.bin"), route.sha256)],
        init=None,
        name="slow",
    )
    ok("sources", "register", str(src))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "remotezoo", "models", "download", "slow"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: bool(http_server.requests_to("/slow.bin")), timeout=30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert out == "" and err.strip() == "remotezoo: error: interrupted"
    models_dir = Path(os.environ["REMOTEZOO_HOME"]) / "models" / "slow"
    assert not (models_dir / "slow.bin").exists()
    assert not models_dir.exists() or leftovers(models_dir) == []


def test_main_in_process_returns_codes(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from remotezoo.__main__ import main

    assert main(["sources", "register", str(source), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == f"file://{source}"
    assert main(["models", "info", "nope"]) == 1
    assert capsys.readouterr().err.startswith("remotezoo: error: ")
    assert main(["models"]) == 2
    assert main(["--help"]) == 0
