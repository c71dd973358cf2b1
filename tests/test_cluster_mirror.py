"""A site mirror: URL rewrite rules (REMOTEZOO_URL_REWRITE, the config file) on every request
and redirect, credentials only to their origin, and a real nginx caching proxy in front of a
loopback GitHub: N homes registering one source and downloading one model through it cost the
origin one request per URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from helpers.cluster import NginxMirror
from helpers.fake_github import FakeGitHub
from helpers.servers import LoopbackServer
from helpers.zoo import SIMPLE_INIT, model

import remotezoo as rz

WEIGHTS = hashlib.sha256(b"weights").digest() * 4096  # 128 KiB


def rules(*pairs: tuple[str, str]) -> str:
    return " ".join(f"{a}={b}" for a, b in pairs)


# ---- the rules ----------------------------------------------------------------------------------


def test_a_rule_sends_the_request_to_the_mirror_with_the_rest_of_the_url(
    http_server, http_server2, tmp_path, monkeypatch
):
    http_server2.serve_bytes("/mirror/files/w.bin", WEIGHTS)
    monkeypatch.setenv(
        "REMOTEZOO_URL_REWRITE",
        rules((http_server.url("/files/"), http_server2.url("/mirror/files/"))),
    )
    rz.download_file(http_server.url("/files/w.bin?v=1"), tmp_path / "w.bin")
    assert (tmp_path / "w.bin").read_bytes() == WEIGHTS
    assert http_server.requests == []
    assert [r.path for r in http_server2.requests] == ["/mirror/files/w.bin"]


def test_the_longest_from_wins_and_a_url_is_rewritten_once(
    http_server, http_server2, tmp_path, monkeypatch
):
    http_server2.serve_bytes("/long/w.bin", WEIGHTS)
    monkeypatch.setenv(
        "REMOTEZOO_URL_REWRITE",
        rules(
            (http_server.url("/"), http_server2.url("/short/")),
            (http_server.url("/files/"), http_server2.url("/long/")),
            (
                http_server2.url("/long/"),
                http_server.url("/loop/"),
            ),  # not applied to a rewritten URL
        ),
    )
    rz.download_file(http_server.url("/files/w.bin"), tmp_path / "w.bin")
    assert [r.path for r in http_server2.requests] == ["/long/w.bin"] and http_server.requests == []


def test_redirect_targets_are_rewritten_too(http_server, http_server2, tmp_path, monkeypatch):
    """The origin's redirect leads to a host the mirror also fronts: the target goes through
    the mirror, so the mirror can cache what the redirect leads to."""
    origin = LoopbackServer("127.0.0.1")
    try:
        origin.redirect("/api/f", http_server2.url("/dl/f.bin?token=SIGNED"))
        http_server.serve_bytes("/m/dl/f.bin", WEIGHTS)  # the mirror of http_server2
        http_server.route_prefix(
            "/m/api/",
            lambda req: req.respond(
                302, b"", {"Location": http_server2.url("/dl/f.bin?token=SIGNED")}
            ),
        )
        monkeypatch.setenv(
            "REMOTEZOO_URL_REWRITE",
            rules(
                (origin.url("/"), http_server.url("/m/")),
                (http_server2.url("/"), http_server.url("/m/")),
            ),
        )
        rz.download_file(origin.url("/api/f"), tmp_path / "f")
        assert (tmp_path / "f").read_bytes() == WEIGHTS
        assert origin.requests == [] and http_server2.requests == []
        assert [r.path for r in http_server.requests] == ["/m/api/f", "/m/dl/f.bin"]
    finally:
        origin.close()


CREDENTIALS = {
    "Authorization": "Bearer SECRET",
    "Cookie": "s=SECRET",
    "Proxy-Authorization": "Basic SECRET",
    "X-Api-Key": "SECRET",
    "Private-Token": "SECRET",
    "X-Amz-Security-Token": "SECRET",
}


def test_a_redirect_with_an_endless_body_is_cut_and_fails_clearly(
    http_server, http_server2, tmp_path
):
    """remotezoo follows redirects itself (to rewrite their targets) and drops their bodies: one
    that never ends is a clear error after RZ_FETCH_REDIRECT_BODY_MAX bytes, not a download
    that reads for ever."""
    http_server2.serve_bytes("/f", WEIGHTS)
    sent = [0]

    def endless(req) -> None:  # type: ignore[no-untyped-def]
        req.send_response(302)
        req.send_header("Location", http_server2.url("/f"))
        req.send_header("Content-Length", str(1 << 40))
        req.end_headers()
        chunk = b"x" * 65536
        while sent[0] < 256 * 1024 * 1024 and req.send_body(chunk):
            sent[0] += len(chunk)
        req.close_connection = True

    http_server.route("/r", endless)
    with pytest.raises(rz.DownloadError, match="a redirect with a body of more than 65536 bytes"):
        rz.download_file(http_server.url("/r"), tmp_path / "f")
    assert sent[0] < 256 * 1024 * 1024  # the client went away long before the server gave up
    assert not (tmp_path / "f").exists() and http_server2.requests == []


def test_a_callers_credentials_never_go_to_a_rewritten_other_host(
    http_server, http_server2, tmp_path, monkeypatch
):
    http_server2.serve_bytes("/m/f", WEIGHTS)
    monkeypatch.setenv(
        "REMOTEZOO_URL_REWRITE", rules((http_server.url("/"), http_server2.url("/m/")))
    )
    rz.download_file(
        http_server.url("/f"), tmp_path / "f", headers=dict(CREDENTIALS, **{"X-Keep": "yes"})
    )
    (seen,) = http_server2.requests
    assert [name for name in CREDENTIALS if seen.headers.get(name) is not None] == []
    assert seen.headers.get("X-Keep") == "yes"


def test_custom_credential_headers_do_not_follow_a_redirect_to_another_host(
    http_server, http_server2, tmp_path, monkeypatch
):
    """The sibling without a rule: a redirect (followed by remotezoo, since rules may rewrite
    its target) to another host drops the custom credential headers too, not only the two
    libcurl knows; and the parallel range requests there get none either."""
    monkeypatch.delenv("REMOTEZOO_URL_REWRITE", raising=False)
    monkeypatch.setenv("REMOTEZOO_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("REMOTEZOO_PARALLEL_MIN_BYTES", str(128 * 1024))  # ranges at once from 1 MiB
    monkeypatch.setenv("REMOTEZOO_CONNECTIONS", "4")
    big = WEIGHTS * 16  # 2 MiB: parallel ranges
    http_server2.serve_bytes("/f", big)
    http_server.redirect("/r", http_server2.url("/f"))
    rz.download_file(
        http_server.url("/r"), tmp_path / "f", headers=dict(CREDENTIALS, **{"X-Keep": "yes"})
    )
    assert (tmp_path / "f").read_bytes() == big
    assert http_server.requests[0].headers.get("X-Api-Key") == "SECRET"  # the origin gets them
    assert len(http_server2.requests) > 1  # the first request and the ranges
    for seen in http_server2.requests:
        assert [name for name in CREDENTIALS if seen.headers.get(name) is not None] == []
        assert seen.headers.get("X-Keep") == "yes"


def test_a_rule_within_one_origin_keeps_the_credentials(http_server, tmp_path, monkeypatch):
    http_server.serve_bytes("/v2/f", WEIGHTS)
    monkeypatch.setenv(
        "REMOTEZOO_URL_REWRITE", rules((http_server.url("/v1/"), http_server.url("/v2/")))
    )
    rz.download_file(
        http_server.url("/v1/f"), tmp_path / "f", headers={"Authorization": "Bearer SECRET"}
    )
    assert http_server.requests[0].headers.get("Authorization") == "Bearer SECRET"


def test_github_token_does_not_go_to_a_mirror_of_the_api(http_server, http_server2, monkeypatch):
    """GITHUB_TOKEN is meant for the API host: a mirror of it gets no token (a shared cache
    would otherwise hold, and serve, what only the token may read); the mirror's own
    configuration adds a site token upstream if it needs one."""
    mirror = LoopbackServer("127.0.0.1")
    try:
        gh = FakeGitHub(http_server, http_server2)
        files = {
            "manifest.json": json.dumps({"name": "acme/zoo", "models": [model("m")]}),
            "__init__.py": SIMPLE_INIT,
        }
        gh.add_repo("acme/zoo", files)
        # the "mirror" forwards to the fake GitHub by answering with its routes
        mirror.route_prefix("/api/", lambda req: _forward(req, http_server, "/api"))
        monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
        monkeypatch.setenv("GITHUB_SERVER_URL", gh.api_url)
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_SECRETTOKEN")
        monkeypatch.setenv(
            "REMOTEZOO_URL_REWRITE", rules((http_server.url("/"), mirror.url("/api/")))
        )
        rz.register_zoo_model_source("acme/zoo")
        assert mirror.requests and all(
            r.headers.get("Authorization") is None for r in mirror.requests
        )
        assert all(
            r.headers.get("Authorization") is None
            for r in http_server.requests + http_server2.requests
        )
    finally:
        mirror.close()


def _forward(req, to: LoopbackServer, strip: str) -> None:
    """Answer req with what `to` answers for the same path (less strip), headers passed on."""
    import urllib.request

    url = to.url(req.path[len(strip) :])
    headers = {k: v for k, v in req.headers.items() if k.lower() in ("accept", "authorization")}

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers)) as resp:
            body, status, hdrs = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        body, status, hdrs = err.read(), err.code, dict(err.headers)
    keep = {k: v for k, v in hdrs.items() if k.lower() in ("location", "content-type")}
    req.respond(status, body, keep)


def test_the_config_file_holds_rules_and_the_variable_wins(
    http_server, http_server2, tmp_path, monkeypatch
):
    http_server2.serve_bytes("/from-file/f", WEIGHTS)
    http_server2.serve_bytes("/from-env/f", WEIGHTS)
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
        # the site's mirror
        [other]
        "x" = "ignored"

        [url_rewrite]
        "{http_server.url("/")}" = "{http_server2.url("/from-file/")}"  # comment
        """)
    )
    monkeypatch.setenv("REMOTEZOO_CONFIG", str(config))
    monkeypatch.delenv("REMOTEZOO_URL_REWRITE", raising=False)
    rz.download_file(http_server.url("/f"), tmp_path / "a")
    monkeypatch.setenv(
        "REMOTEZOO_URL_REWRITE", rules((http_server.url("/"), http_server2.url("/from-env/")))
    )
    rz.download_file(http_server.url("/f"), tmp_path / "b")
    monkeypatch.setenv(
        "REMOTEZOO_URL_REWRITE", ""
    )  # empty is unset (as every variable): the file's
    rz.download_file(http_server.url("/f"), tmp_path / "a2")
    monkeypatch.setenv("REMOTEZOO_CONFIG", "/dev/null")  # no rules at all
    http_server.serve_bytes("/f", WEIGHTS)
    rz.download_file(http_server.url("/f"), tmp_path / "c")
    assert [r.path for r in http_server2.requests] == [
        "/from-file/f",
        "/from-env/f",
        "/from-file/f",
    ]
    assert [r.path for r in http_server.requests] == ["/f"]


def test_xdg_config_home_is_where_the_config_file_lives(
    http_server, http_server2, tmp_path, monkeypatch
):
    http_server2.serve_bytes("/x/f", WEIGHTS)
    (tmp_path / "xdg" / "remotezoo").mkdir(parents=True)
    (tmp_path / "xdg" / "remotezoo" / "config.toml").write_text(
        f'[url_rewrite]\n"{http_server.url("/")}" = "{http_server2.url("/x/")}"\n'
    )
    monkeypatch.delenv("REMOTEZOO_URL_REWRITE", raising=False)
    monkeypatch.delenv("REMOTEZOO_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    rz.download_file(http_server.url("/f"), tmp_path / "f")
    assert [r.path for r in http_server2.requests] == ["/x/f"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("http://a/", "not a rule FROM=TO"),
        ("http://a/=", "FROM=TO, both non-empty"),
        ("=http://b/", "FROM=TO, both non-empty"),
        ("http://a/=file:///etc/", "must lead to an http:// or https:// URL"),
    ],
)
def test_a_malformed_rule_is_an_error_before_any_request(
    http_server, tmp_path, monkeypatch, value, message
):
    http_server.serve_bytes("/f", WEIGHTS)
    monkeypatch.setenv("REMOTEZOO_URL_REWRITE", value)
    with pytest.raises(ValueError, match=f"REMOTEZOO_URL_REWRITE.*{message}"):
        rz.download_file(http_server.url("/f"), tmp_path / "f")
    assert http_server.requests == []


def test_a_malformed_config_file_names_its_line(http_server, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[url_rewrite]\n\n"http://a/" = http://b/\n')
    monkeypatch.setenv("REMOTEZOO_CONFIG", str(config))
    monkeypatch.delenv("REMOTEZOO_URL_REWRITE", raising=False)
    with pytest.raises(ValueError, match=r"config.toml line 3: want \"FROM\" = \"TO\""):
        rz.download_file(http_server.url("/f"), tmp_path / "f")
    assert http_server.requests == []


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_config_path_that_is_not_a_file_is_an_error_not_a_hang(
    http_server, tmp_path, monkeypatch, kind
):
    config = tmp_path / "config.toml"
    os.mkfifo(config) if kind == "fifo" else config.mkdir()
    monkeypatch.setenv("REMOTEZOO_CONFIG", str(config))
    monkeypatch.delenv("REMOTEZOO_URL_REWRITE", raising=False)
    with pytest.raises(ValueError, match="config.toml is not a regular file"):
        rz.download_file(http_server.url("/f"), tmp_path / "f")
    assert http_server.requests == []


# ---- through a real nginx -------------------------------------------------------------------------

N_HOMES = 8

CLIENT = """
import json, os, sys, remotezoo as rz
rz.register_zoo_model_source("acme/zoo")
model, path = rz.download_zoo_model("acme/weights")
print(json.dumps({"path": path, "bytes": len(open(path, "rb").read()),
                  "sha": rz.zoo_model_sources_info()[0]["sha"]}))
"""


@pytest.fixture
def github_behind_nginx(http_server, http_server2, tmp_path):
    """A fake GitHub (API on 127.0.0.1, codeload on 127.0.0.2) with a source whose model is a
    manager download from the API host, behind nginx; the rewrite rules that send remotezoo
    through it."""
    gh = FakeGitHub(http_server, http_server2)
    weights = http_server.serve_bytes("/files/weights.bin", WEIGHTS)
    entry = model(
        "acme/weights",
        base_filename="weights.bin",
        sha256=weights.sha256,
        manager={
            "type": "fiftyone.core.models.ModelManager",
            "config": {"url": http_server.url("/files/weights.bin")},
        },
    )
    gh.add_repo(
        "acme/zoo",
        {
            "manifest.json": json.dumps({"name": "acme/zoo", "models": [entry]}),
            "__init__.py": "def load_model(model_name, model_path, **kwargs):\n    return model_path\n",
        },
    )
    mirror = NginxMirror(
        tmp_path / "nginx", {"github-api": http_server.url("/"), "codeload": http_server2.url("/")}
    )
    env = {
        "GITHUB_API_URL": gh.api_url,
        "GITHUB_SERVER_URL": gh.api_url,
        "REMOTEZOO_URL_REWRITE": rules(
            (http_server.url("/"), mirror.url + "/github-api/"),
            (http_server2.url("/"), mirror.url + "/codeload/"),
        ),
    }
    yield gh, mirror, env
    mirror.stop()


def test_n_homes_through_nginx_cost_the_origin_one_request_per_url(github_behind_nginx, tmp_path):
    gh, mirror, env = github_behind_nginx
    procs = []
    for i in range(N_HOMES):  # all at once: proxy_cache_lock makes the misses wait for one fetch
        home = tmp_path / f"home{i}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", CLIENT],
                env=dict(os.environ, **env, REMOTEZOO_HOME=str(home)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err + mirror.error_log()
        results.append(json.loads(out))
    assert {r["bytes"] for r in results} == {len(WEIGHTS)} and len({r["sha"] for r in results}) == 1
    origin = [(r.host, r.path) for r in gh.api.requests + gh.download.requests]
    sha = results[0]["sha"]
    assert sorted(origin) == sorted(
        [
            ("127.0.0.1", "/repos/acme/zoo/commits/HEAD"),
            ("127.0.0.1", f"/repos/acme/zoo/tarball/{sha}"),
            ("127.0.0.2", f"/acme/zoo/legacy.tar.gz/{sha}"),
            ("127.0.0.1", "/files/weights.bin"),
        ]
    ), origin
    log = [line.split() for line in (mirror.workdir / "access.log").read_text().splitlines()]
    assert len(log) == 4 * N_HOMES  # every request of every home went through the mirror
    assert sum(1 for entry in log if entry[0] == "MISS") == 4, log  # and 4 went on to the origin


def test_a_mirror_that_is_down_is_a_clear_download_error(github_behind_nginx, tmp_path):
    gh, mirror, env = github_behind_nginx
    mirror.stop()
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT],
        env=dict(os.environ, **env, REMOTEZOO_HOME=str(tmp_path / "h"), REMOTEZOO_MAX_ATTEMPTS="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert mirror.url + "/github-api/repos/acme/zoo/commits/HEAD" in proc.stderr, proc.stderr
    assert gh.api.requests == []


def test_proxy_redirect_serves_a_client_with_only_the_api_rule(http_server, http_server2, tmp_path):
    """The README's alternative for clients that cannot rewrite redirect targets: nginx rewrites
    the Location of the API's redirect to go back through the mirror."""
    gh = FakeGitHub(http_server, http_server2)
    gh.add_repo(
        "acme/zoo",
        {
            "manifest.json": json.dumps({"name": "acme/zoo", "models": [model("m")]}),
            "__init__.py": SIMPLE_INIT,
        },
    )
    mirror = NginxMirror(
        tmp_path / "nginx",
        {"github-api": http_server.url("/"), "codeload": http_server2.url("/")},
        extra={"github-api": f"proxy_redirect {http_server2.url('/')} /codeload/;"},
    )
    try:
        env = {
            "GITHUB_API_URL": gh.api_url,
            "GITHUB_SERVER_URL": gh.api_url,
            "REMOTEZOO_HOME": str(tmp_path / "h"),
            "REMOTEZOO_URL_REWRITE": rules((http_server.url("/"), mirror.url + "/github-api/")),
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import remotezoo as rz; rz.register_zoo_model_source('acme/zoo')",
            ],
            env=dict(os.environ, **env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr + mirror.error_log()
        log = [line.split() for line in (mirror.workdir / "access.log").read_text().splitlines()]
        assert [entry[3].split("/")[1] for entry in log] == [
            "github-api",
            "github-api",
            "codeload",
        ], log
        assert gh.tarball_requests() == 1
    finally:
        mirror.stop()
