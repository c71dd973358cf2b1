"""Source specs: every accepted form, its identity and slug, and every refusal."""

from __future__ import annotations

import keyword
import os
import re
from typing import Any, Optional

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from remotezoo import SourceError, _core

CWD = "/srv/work"
HOME = "/home/alice"
GH = "https://github.com"
GHE = "https://ghe.corp/github"
LOOP = "http://127.0.0.1:8123"


def parse(spec: Any, server: Optional[str] = None) -> dict[str, Any]:
    return _core.parse_source_spec(spec, github_server_url=server, cwd=CWD, home=HOME)


def github(
    identity: str, user: str, repo: str, ref: Optional[str] = None, commit: bool = False
) -> dict[str, Any]:
    return {
        "kind": "github",
        "identity": identity,
        "user": user,
        "repo": repo,
        "ref": ref,
        "ref_is_commit": commit,
        "url": None,
        "format": None,
        "local_path": None,
    }


def archive(identity: str, fmt: str) -> dict[str, Any]:
    return {
        "kind": "archive",
        "identity": identity,
        "url": identity,
        "format": fmt,
        "user": None,
        "repo": None,
        "ref": None,
        "ref_is_commit": False,
        "local_path": None,
    }


def local(path: str, identity: Optional[str] = None) -> dict[str, Any]:
    return {
        "kind": "local",
        "identity": identity or "file://" + path,
        "local_path": path,
        "user": None,
        "repo": None,
        "ref": None,
        "ref_is_commit": False,
        "url": None,
        "format": None,
    }


VALID: list[tuple[str, Optional[str], dict[str, Any]]] = [
    # GitHub URLs
    (
        "https://github.com/voxel51/openai-clip",
        None,
        github(f"{GH}/voxel51/openai-clip", "voxel51", "openai-clip"),
    ),
    (
        "https://github.com/Voxel51/OpenAI-CLIP/",
        None,
        github(f"{GH}/voxel51/openai-clip", "voxel51", "openai-clip"),
    ),
    (
        "https://github.com/voxel51/openai-clip.git",
        None,
        github(f"{GH}/voxel51/openai-clip", "voxel51", "openai-clip"),
    ),
    ("HTTPS://GitHub.COM/u/r.GIT/", None, github(f"{GH}/u/r", "u", "r")),
    ("http://github.com/u/r", None, github(f"{GH}/u/r", "u", "r")),
    ("https://www.github.com/u/r", None, github(f"{GH}/u/r", "u", "r")),
    ("https://github.com:443/u/r", None, github(f"{GH}/u/r", "u", "r")),
    ("https://github.com/u/r?tab=readme-ov-file#usage", None, github(f"{GH}/u/r", "u", "r")),
    ("https://github.com/u/r/tree/main", None, github(f"{GH}/u/r/tree/main", "u", "r", "main")),
    (
        "https://github.com/u/r/tree/feature/x",
        None,
        github(f"{GH}/u/r/tree/feature/x", "u", "r", "feature/x"),
    ),
    (
        "https://github.com/u/r/tree/feature/x/",
        None,
        github(f"{GH}/u/r/tree/feature/x", "u", "r", "feature/x"),
    ),
    (
        "https://github.com/u/r/tree/Release-V1.0",
        None,
        github(f"{GH}/u/r/tree/Release-V1.0", "u", "r", "Release-V1.0"),
    ),
    (
        "https://github.com/u/r/tree/feature%2Fy",
        None,
        github(f"{GH}/u/r/tree/feature/y", "u", "r", "feature/y"),
    ),
    (
        "https://github.com/u/r/tree/issue%231",
        None,
        github(f"{GH}/u/r/tree/issue%231", "u", "r", "issue#1"),
    ),
    ("https://github.com/u/r.git/tree/v2", None, github(f"{GH}/u/r/tree/v2", "u", "r", "v2")),
    (
        "https://github.com/u/r/commit/0123456789ABCDEF0123456789abcdef01234567",
        None,
        github(
            f"{GH}/u/r/commit/0123456789abcdef0123456789abcdef01234567",
            "u",
            "r",
            "0123456789abcdef0123456789abcdef01234567",
            True,
        ),
    ),
    (
        "https://github.com/u/r/commit/abc1234",
        None,
        github(f"{GH}/u/r/commit/abc1234", "u", "r", "abc1234", True),
    ),
    (
        "https://github.com/pytorch/pytorch.github.io",
        None,
        github(f"{GH}/pytorch/pytorch.github.io", "pytorch", "pytorch.github.io"),
    ),
    ("https://github.com/u/r.zip", None, github(f"{GH}/u/r.zip", "u", "r.zip")),
    ("https://github.com/u/.github", None, github(f"{GH}/u/.github", "u", ".github")),
    # short forms
    ("voxel51/openai-clip", None, github(f"{GH}/voxel51/openai-clip", "voxel51", "openai-clip")),
    ("Voxel51/OpenAI-CLIP", None, github(f"{GH}/voxel51/openai-clip", "voxel51", "openai-clip")),
    ("u/r/", None, github(f"{GH}/u/r", "u", "r")),
    ("u/r.git", None, github(f"{GH}/u/r", "u", "r")),
    ("u/r.git.git", None, github(f"{GH}/u/r", "u", "r")),
    ("u/r/main", None, github(f"{GH}/u/r/tree/main", "u", "r", "main")),
    ("u/r/feature/x/y", None, github(f"{GH}/u/r/tree/feature/x/y", "u", "r", "feature/x/y")),
    ("u/r/v1.0/", None, github(f"{GH}/u/r/tree/v1.0", "u", "r", "v1.0")),
    ("u/r/issue#7", None, github(f"{GH}/u/r/tree/issue%237", "u", "r", "issue#7")),
    ("u/r/100%", None, github(f"{GH}/u/r/tree/100%25", "u", "r", "100%")),
    ("u/r/tree", None, github(f"{GH}/u/r/tree/tree", "u", "r", "tree")),
    ("u/r/caf\u00e9", None, github(f"{GH}/u/r/tree/caf\u00e9", "u", "r", "caf\u00e9")),
    ("some_user.x/a-b_c.d", None, github(f"{GH}/some_user.x/a-b_c.d", "some_user.x", "a-b_c.d")),
    (
        "pytorch/pytorch.github.io",
        None,
        github(f"{GH}/pytorch/pytorch.github.io", "pytorch", "pytorch.github.io"),
    ),
    ("github.com/u/r/tree/dev", None, github(f"{GH}/u/r/tree/dev", "u", "r", "dev")),
    ("  u/r \n", None, github(f"{GH}/u/r", "u", "r")),
    ("a" * 39 + "/r", None, github(f"{GH}/{'a' * 39}/r", "a" * 39, "r")),
    # a configured server: GHE with a path prefix, and a loopback server with a port
    ("https://ghe.corp/github/u/r", GHE, github(f"{GHE}/u/r", "u", "r")),
    ("http://GHE.corp/github/u/r/tree/x/y", GHE, github(f"{GHE}/u/r/tree/x/y", "u", "r", "x/y")),
    ("https://github.com/U/R", GHE, github(f"{GHE}/u/r", "u", "r")),
    ("u/r/dev", "https://ghe.corp/github/", github(f"{GHE}/u/r/tree/dev", "u", "r", "dev")),
    ("ghe.corp/github/u/r", GHE, github(f"{GHE}/u/r", "u", "r")),
    ("https://ghe.corp/other/x.zip", GHE, archive("https://ghe.corp/other/x.zip", "zip")),
    ("http://127.0.0.1:8123/u/r", LOOP, github(f"{LOOP}/u/r", "u", "r")),
    (
        "https://127.0.0.1:8123/u/r/commit/deadbeef",
        LOOP,
        github(f"{LOOP}/u/r/commit/deadbeef", "u", "r", "deadbeef", True),
    ),
    ("u/r", LOOP + "/", github(f"{LOOP}/u/r", "u", "r")),
    ("u/r", "HTTP://127.0.0.1:8123", github(f"{LOOP}/u/r", "u", "r")),
    ("u/r", "", github(f"{GH}/u/r", "u", "r")),
    ("127.0.0.1:8123/u/r", LOOP, github(f"{LOOP}/u/r", "u", "r")),
    ("http://127.0.0.1:8123/src.tar.gz", LOOP, archive(f"{LOOP}/src.tar.gz", "tar.gz")),
    ("http://127.0.0.1:8123/files/dl/src.zip", LOOP, archive(f"{LOOP}/files/dl/src.zip", "zip")),
    ("http://127.0.0.1:9999/u/r.zip", LOOP, archive("http://127.0.0.1:9999/u/r.zip", "zip")),
    # archives
    ("https://example.com/a/src.zip", None, archive("https://example.com/a/src.zip", "zip")),
    ("https://Example.COM:443/a/B.ZIP", None, archive("https://example.com/a/B.ZIP", "zip")),
    ("http://example.com:80/x.tar", None, archive("http://example.com/x.tar", "tar")),
    ("http://example.com:8080/x.tar", None, archive("http://example.com:8080/x.tar", "tar")),
    ("https://example.com/x.tar.gz", None, archive("https://example.com/x.tar.gz", "tar.gz")),
    ("https://example.com/x.TGZ", None, archive("https://example.com/x.TGZ", "tar.gz")),
    ("https://example.com/x.tar.bz2", None, archive("https://example.com/x.tar.bz2", "tar.bz2")),
    ("https://example.com/x.tbz2", None, archive("https://example.com/x.tbz2", "tar.bz2")),
    ("https://example.com/x.tar.xz", None, archive("https://example.com/x.tar.xz", "tar.xz")),
    ("https://example.com/x.txz", None, archive("https://example.com/x.txz", "tar.xz")),
    ("https://example.com/x.tar.zst", None, archive("https://example.com/x.tar.zst", "tar.zst")),
    ("https://example.com/x.Tar.Zst", None, archive("https://example.com/x.Tar.Zst", "tar.zst")),
    ("https://example.com/x.tzst", None, archive("https://example.com/x.tzst", "tar.zst")),
    (
        "https://example.com/x.zip?sig=abc&exp=1#frag",
        None,
        archive("https://example.com/x.zip?sig=abc&exp=1", "zip"),
    ),
    ("https://example.com/x.zip?", None, archive("https://example.com/x.zip", "zip")),
    ("https://example.com/x.zip/", None, archive("https://example.com/x.zip", "zip")),
    ("https://[::1]:8443/m.tar.gz", None, archive("https://[::1]:8443/m.tar.gz", "tar.gz")),
    (
        "https://github.com/u/r/archive/refs/heads/main.zip",
        None,
        archive(f"{GH}/u/r/archive/refs/heads/main.zip", "zip"),
    ),
    (
        "https://github.com/u/r/releases/download/v1/m.tar.gz",
        None,
        archive(f"{GH}/u/r/releases/download/v1/m.tar.gz", "tar.gz"),
    ),
    # local
    ("/abs/path", None, local("/abs/path")),
    ("/abs//path/./x/../y/", None, local("/abs/path/y")),
    ("/../..", None, local("/", "file:///")),
    ("./src", None, local(f"{CWD}/src")),
    ("../up", None, local("/srv/up")),
    (".", None, local(CWD)),
    ("..", None, local("/srv")),
    ("~", None, local(HOME)),
    ("~/zoo/src", None, local(f"{HOME}/zoo/src")),
    ("./a b/%x?#", None, local(f"{CWD}/a b/%x?#", f"file://{CWD}/a%20b/%25x%3F%23")),
    ("./u/r", None, local(f"{CWD}/u/r")),
    ("file:///abs/path", None, local("/abs/path")),
    ("file://localhost/abs/path/", None, local("/abs/path")),
    ("FILE://LocalHost/abs/a%20b", None, local("/abs/a b", "file:///abs/a%20b")),
    ("file:///abs/caf%C3%A9", None, local("/abs/caf\u00e9")),
    ("file:///a/./b/../c", None, local("/a/c")),
]


@pytest.mark.parametrize("spec,server,expected", VALID, ids=[r[0] for r in VALID])
def test_valid(spec: str, server: Optional[str], expected: dict[str, Any]) -> None:
    got = parse(spec, server)
    for key, value in expected.items():
        assert got[key] == value, key
    assert set(got) == {
        "kind",
        "identity",
        "user",
        "repo",
        "ref",
        "ref_is_commit",
        "url",
        "format",
        "local_path",
        "slug",
    }


@pytest.mark.parametrize("spec,server,expected", VALID, ids=[r[0] for r in VALID])
def test_identity_reparses_to_itself(
    spec: str, server: Optional[str], expected: dict[str, Any]
) -> None:
    first = parse(spec, server)
    again = parse(first["identity"], server)
    assert again == first


INVALID: list[tuple[str, Optional[str], str]] = [
    ("", None, "empty"),
    ("   ", None, "empty"),
    ("mydir", None, "start with ./"),
    ("u", None, "start with ./"),
    ("u/", None, "no repository"),
    ("https://github.com", None, "no repository"),
    ("https://github.com/u", None, "no repository"),
    ("https://github.com/u/r/blob/main/README.md", None, "tree/<ref>"),
    ("https://github.com/u/r/tree", None, "nothing follows /tree"),
    ("https://github.com/u/r/tree/", None, "nothing follows /tree"),
    ("https://github.com/u/r/commit/xyz", None, "hex digits"),
    ("https://github.com/u/r/commit/abc", None, "hex digits"),
    ("https://github.com/u/r/commit/" + "a" * 65, None, "hex digits"),
    ("https://github.com/u/r/tree/a..b", None, "'..'"),
    ("https://github.com/u/r/tree/%zz", None, "two hex digits"),
    ("https://github.com/u/r/tree/a%0ab", None, "control character"),
    ("https://github.com/-u/r", None, "GitHub user"),
    ("https://github.com/u/r r", None, "space"),
    ("u/r/a..b", None, "'..'"),
    ("u/r/-x", None, "start with '-'"),
    ("u/r/a b", None, "spaces"),
    ("u/r/a~1", None, "~ ^ :"),
    ("u/r/a^", None, "~ ^ :"),
    ("u/r/a:b", None, "~ ^ :"),
    ("u/r/a*", None, "~ ^ :"),
    ("u/r/a[1]", None, "~ ^ :"),
    ("u/r/a\\b", None, "~ ^ :"),
    ("u/r/a?b", None, "~ ^ :"),
    ("u/r/x.lock", None, ".lock"),
    ("u/r/x.", None, "end with '.'"),
    ("u/r/@", None, "'@'"),
    ("u/r/a@{1}", None, "'@{'"),
    ("u/r/.hidden", None, "start with '.'"),
    ("u/r/a/.b", None, "start with '.'"),
    ("u/r/a//b", None, "'//'"),
    ("u/r/" + "x" * 256, None, "255"),
    ("a" * 40 + "/r", None, "GitHub user"),
    ("u/" + "r" * 101, None, "GitHub repo"),
    ("u/..", None, "GitHub repo"),
    ("u/.", None, "GitHub repo"),
    ("-u/r", None, "GitHub user"),
    (".u/r", None, "GitHub user"),
    ("u!/r", None, "GitHub user"),
    ("u/r+x", None, "GitHub repo"),
    ("C:/models", None, "GitHub user"),
    ("git@github.com:u/r.git", None, "SSH"),
    ("ssh://git@github.com/u/r", None, "'ssh://' URLs are not supported"),
    ("git://github.com/u/r", None, "'git://' URLs are not supported"),
    ("ftp://example.com/x.zip", None, "'ftp://' URLs are not supported"),
    ("https://example.com/page", None, "archive extension"),
    ("https://example.com/x.zip.part", None, "archive extension"),
    ("https://example.com/get?f=x.zip", None, "archive extension"),
    ("https://example.com/#x.zip", None, "archive extension"),
    ("https://example.com:0/x.zip", None, "port"),
    ("https://example.com:65536/x.zip", None, "port"),
    ("https://example.com:12ab/x.zip", None, "port"),
    ("https:///x.zip", None, "no host"),
    ("https://[::1/x.zip", None, "']'"),
    ("https://ex ample.com/x.zip", None, "host name"),
    ("https://ex\u00e4mple.com/x.zip", None, "punycode"),
    ("https://ghe.corp/github/u/r", None, "archive extension"),
    ("http://127.0.0.1:8124/u/r", LOOP, "GitHub server (http://127.0.0.1:8123)"),
    ("ghe.corp/u/r", GHE, "archive extension"),
    ("~bob/src", None, "'~user'"),
    ("file://server/share/x", None, "local path"),
    ("file://", None, "no absolute path"),
    ("file:///a?b", None, "%3F"),
    ("file:///a#b", None, "%23"),
    ("file:///a%00b", None, "control character"),
    ("file:///a%4", None, "two hex digits"),
    ("u/r\x00x", None, "NUL"),
    ("u/r/a\tb", None, "control character"),
    ("./a\nb", None, "control character"),
    ("\x1b[31mu/r", None, "control character"),
    ("x" * 4097, None, "longer than 4096"),
    ("\ud800/r", None, "surrogates"),
]


def _id(row: tuple[str, Optional[str], str]) -> str:
    return row[0][:60].encode("unicode_escape").decode()


@pytest.mark.parametrize("spec,server,needle", INVALID, ids=[_id(r) for r in INVALID])
def test_invalid(spec: str, server: Optional[str], needle: str) -> None:
    with pytest.raises(SourceError) as info:
        parse(spec, server)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message and "\x1b" not in message
    assert isinstance(info.value, ValueError)


def test_invalid_message_quotes_spec_and_lists_forms() -> None:
    with pytest.raises(SourceError) as info:
        parse("not a spec")
    message = str(info.value)
    assert message.startswith("source spec 'not a spec' is not valid: ")
    for form in (
        "https://github.com/<user>/<repo>",
        "/tree/<ref>",
        "/commit/<sha>",
        "<user>/<repo>[/<ref>]",
        ".tar.gz",
        ".tar.zst",
        ".zip",
        "file:///abs/path",
        "./rel/path",
    ):
        assert form in message
    assert info.value.source == "not a spec"


def test_long_spec_is_quoted_short() -> None:
    with pytest.raises(SourceError) as info:
        parse("\u00e9" * 3000)
    message = str(info.value)
    assert len(message) < 1024
    assert "\u00e9" * 10 + "..." in message


@pytest.mark.parametrize(
    "spec",
    [
        "https://alice:hunter2@github.com/u/r",
        "https://ghp_SECRETTOKEN@github.com/u/r/tree/main",
        "http://alice:hunter2@example.com/x.zip",
        "https://hunter2@[::1]/x.tar.gz",
        "ghp_SECRETTOKEN@github.com/u/r",
        "file://alice:hunter2@localhost/abs",
    ],
)
def test_credentials_refused_and_never_echoed(spec: str) -> None:
    with pytest.raises(SourceError) as info:
        parse(spec)
    err = info.value
    assert "put tokens in GITHUB_TOKEN, not in the URL" in str(err)
    for secret in ("hunter2", "SECRETTOKEN", "alice"):
        assert secret not in str(err)
        assert secret not in (err.source or "")


def test_query_values_redacted_in_messages() -> None:
    with pytest.raises(SourceError) as info:
        parse("https://example.com/download?token=s3cr3t")
    assert "s3cr3t" not in str(info.value)
    assert "token=REDACTED" in str(info.value)


@pytest.mark.parametrize(
    "server",
    [
        "ftp://ghe.corp",
        "ghe.corp",
        "https://user:pw@ghe.corp",
        "https://ghe.corp/?x=1",
        "https://",
        "http://ghe.corp:99999",
    ],
)
def test_bad_github_server_url(server: str) -> None:
    with pytest.raises(SourceError) as info:
        parse("u/r", server)
    assert "GITHUB_SERVER_URL" in str(info.value)
    assert "pw@" not in str(info.value)


EQUIVALENT: list[tuple[Optional[str], list[str]]] = [
    (
        None,
        [
            "Voxel51/OpenAI-CLIP",
            "voxel51/openai-clip",
            "https://github.com/voxel51/openai-clip/",
            "https://github.com/voxel51/openai-clip.git",
            "http://GitHub.com/Voxel51/OpenAI-CLIP",
            "https://www.github.com/voxel51/openai-clip.git/",
            "github.com/Voxel51/OpenAI-CLIP",
            "https://github.com:443/voxel51/openai-clip?x=1#y",
            "voxel51/openai-clip.git/",
        ],
    ),
    (
        None,
        [
            "u/r/feature/x",
            "https://github.com/u/r/tree/feature/x",
            "https://github.com/U/R/tree/feature/x/",
            "https://github.com/u/r/tree/feature%2Fx",
        ],
    ),
    (None, ["https://github.com/u/r/commit/ABCDEF1", "https://github.com/u/r/commit/abcdef1/"]),
    (
        None,
        [
            "https://Example.com:443/a/x.zip#top",
            "https://example.com/a/x.zip/",
            "HTTPS://EXAMPLE.COM/a/x.zip?",
        ],
    ),
    (
        None,
        [
            "/srv/work/src",
            "./src",
            "./x/../src",
            "file:///srv/work/src",
            "file://localhost/srv/work/src/",
            "/srv//work/./src/",
            "~/../../srv/work/src",
        ],
    ),
    (
        GHE,
        [
            "u/r",
            "https://ghe.corp/github/u/r",
            "https://github.com/u/r",
            "http://ghe.corp/github/U/R.git",
            "ghe.corp/github/u/r",
        ],
    ),
    (
        LOOP,
        [
            "u/r/main",
            "http://127.0.0.1:8123/u/r/tree/main",
            "https://127.0.0.1:8123/u/r/tree/main",
            "https://github.com/u/r/tree/main",
            "127.0.0.1:8123/u/r/tree/main",
        ],
    ),
]


@pytest.mark.parametrize("server,specs", EQUIVALENT)
def test_equivalent_specs_share_identity_and_slug(server: Optional[str], specs: list[str]) -> None:
    parsed = [parse(s, server) for s in specs]
    assert len({p["identity"] for p in parsed}) == 1
    assert len({p["slug"] for p in parsed}) == 1


def test_different_refs_are_different_sources() -> None:
    ids = {
        parse(s)["identity"]
        for s in [
            "u/r",
            "u/r/main",
            "u/r/Main",
            "u/r/main/x",
            "https://github.com/u/r/commit/abcd",
            "u/r/abcd",
            "u2/r",
            "u/r2",
        ]
    }
    assert len(ids) == 8


SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def test_slugs_are_safe_unique_and_stable() -> None:
    by_identity: dict[str, str] = {}
    for spec, server, _ in VALID:
        got = parse(spec, server)
        slug = got["slug"]
        assert SLUG_RE.match(slug), slug
        assert slug.isidentifier() and not keyword.iskeyword(slug)
        assert by_identity.setdefault(got["identity"], slug) == slug
    assert len(set(by_identity.values())) == len(by_identity)


def test_slug_examples() -> None:
    # Fixed values: the slug names directories on disk, so it must never change.
    assert parse("voxel51/openai-clip")["slug"] == "gh_voxel51_openai_clip_8c67e618c143"
    assert parse("u/r/feature/x")["slug"].startswith("gh_u_r_feature_x_")
    assert parse("https://example.com/a/Model-V2.tar.gz")["slug"].startswith(
        "url_example_com_model_v2_"
    )
    assert parse("/opt/My Zoo")["slug"].startswith("local_my_zoo_")
    assert parse("/")["slug"].startswith("local_")
    long = parse("u/r/" + "-".join(["branch"] * 30))["slug"]
    assert len(long) <= 64 and SLUG_RE.match(long)


def test_default_server_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "http://127.0.0.1:8123/")
    assert _core.parse_source_spec("u/r")["identity"] == f"{LOOP}/u/r"
    assert _core.parse_source_spec("u/r", github_server_url=None)["identity"] == f"{GH}/u/r"
    monkeypatch.delenv("GITHUB_SERVER_URL")
    assert _core.parse_source_spec("u/r")["identity"] == f"{GH}/u/r"


def test_default_cwd_and_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    real = os.path.realpath(os.getcwd())
    assert _core.parse_source_spec("./s")["local_path"] in (f"{tmp_path}/s", f"{real}/s")
    assert _core.parse_source_spec("~/z")["local_path"] == f"{tmp_path}/h/z"


def test_pathlike_and_type_errors(tmp_path: Any) -> None:
    from pathlib import Path

    assert parse(Path("/opt/zoo"))["local_path"] == "/opt/zoo"
    with pytest.raises(TypeError):
        parse(b"u/r")
    with pytest.raises(TypeError):
        parse(42)
    with pytest.raises(TypeError):
        _core.parse_source_spec("u/r", github_server_url=1)


def test_existing_directory_does_not_change_short_form(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "u" / "r").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert _core.parse_source_spec("u/r", github_server_url=None)["kind"] == "github"
    assert _core.parse_source_spec("./u/r", github_server_url=None)["kind"] == "local"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u"]


# ---- property tests ----

SERVERS = st.sampled_from([None, GHE, LOOP, "https://ghe.corp/"])


def check_parse(spec: str, server: Optional[str]) -> None:
    try:
        got = parse(spec, server)
    except SourceError as exc:
        assert "\n" not in str(exc)
        return
    assert SLUG_RE.match(got["slug"])
    assert parse(got["identity"], server) == got


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300), SERVERS)
def test_arbitrary_text_parses_or_raises_source_error(spec: str, server: Optional[str]) -> None:
    check_parse(spec, server)


URLISH = st.text(alphabet="/.:~%@?#-_ aZ09\u00e9\\[]^*{}", max_size=60)
PREFIXES = st.sampled_from(
    [
        "",
        "/",
        "./",
        "../",
        "~/",
        "~",
        "file://",
        "file:///",
        "file://localhost/",
        "https://",
        "http://",
        "https://github.com/",
        "http://127.0.0.1:8123/",
        "https://ghe.corp/github/",
        "github.com/",
        "u/r/",
        "https://example.com/",
        "u/r/tree/",
    ]
)
SUFFIXES = st.sampled_from(["", "/", ".git", ".zip", ".tar.gz", ".TGZ", "?q=1", "#f", ".lock"])


@settings(max_examples=1500, deadline=None)
@given(PREFIXES, URLISH, SUFFIXES, SERVERS)
def test_structured_specs_parse_or_raise_and_are_idempotent(
    prefix: str, body: str, suffix: str, server: Optional[str]
) -> None:
    check_parse(prefix + body + suffix, server)


NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
REF = st.from_regex(
    r"[A-Za-z0-9_#%@\u00e9][A-Za-z0-9_#%@\u00e9\-]{0,10}"
    r"(/[A-Za-z0-9_#%@\u00e9][A-Za-z0-9_#%@\u00e9\-]{0,10}){0,3}",
    fullmatch=True,
)


@settings(max_examples=500, deadline=None)
@given(NAME, NAME, st.one_of(st.none(), REF), SERVERS)
def test_short_and_url_forms_agree(
    user: str, repo: str, ref: Optional[str], server: Optional[str]
) -> None:
    assume(user.lower() not in ("github.com", "www.github.com", "ghe.corp"))
    short = f"{user}/{repo}" + (f"/{ref}" if ref else "")
    try:
        got = parse(short, server)
    except SourceError:
        return  # e.g. a repo named ".." or "x.lock" refs
    assert got["user"] == user.lower()
    assert got["ref"] == ref
    base = (server or GH).rstrip("/")
    assert got["identity"].startswith(base + "/" + user.lower() + "/")
    # The same source written as a github.com URL (which means the configured server).
    enc = (ref or "").replace("%", "%25").replace("#", "%23")
    url = f"https://github.com/{user}/{repo}" + (f"/tree/{enc}" if ref else "")
    assert parse(url, server)["identity"] == got["identity"]
