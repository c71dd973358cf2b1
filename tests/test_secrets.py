"""No credential reaches a message, an attribute, a note, a log line, the CLI's output or a file
that others can read: one redaction (``rz_redact_text`` in csrc/util/error.c, ``_core.redact`` in
Python) is applied to every one of them.

Decisions: an archive source's identity keeps its query string, because the registry must fetch
it again (overwrite=True); ``list_zoo_model_sources()``, ``zoo_model_sources_info()`` and
``ZooModel.zoo_source`` return it as registered (they are handles a program passes back, as in
FiftyOne). Everything shown to a person — messages, ``.source``, ``.url``, logs, progress bars,
CLI tables and ``--json`` — shows it redacted. On disk it is only in ``registry.json``, which is
private to its owner (0600).
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.zoo import model
from hypothesis import given, settings
from hypothesis import strategies as st

import remotezoo as rz
from remotezoo import _core
from remotezoo.__main__ import main

SECRET = "PLANTEDSECRET42"
ATTRS = ("url", "source", "path", "model", "field")


def texts_of(exc: BaseException) -> Iterator[str]:
    """Everything of exc (and its causes) a person or a log could see."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield str(exc)
        yield repr(exc)
        yield from (str(a) for a in exc.args)
        yield from (str(getattr(exc, name, None)) for name in ATTRS)
        yield from getattr(exc, "__notes__", [])
        exc = exc.__cause__ or exc.__context__


def assert_clean(exc: BaseException) -> None:
    for text in texts_of(exc):
        assert SECRET not in text, (type(exc).__name__, text)


def tarball(files: dict[str, str], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"zoo/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


RAISING_INIT = """
def download_model(model_name, model_path):
    if model_name == "acme/raises":
        raise RuntimeError("no weights today")
    with open(model_path, "w") as f:
        f.write("weights")
"""


@pytest.fixture
def server(http_server):
    """Archives on loopback, each reached with ?token=SECRET."""
    manager = {"config": {"url": http_server.url("/weights.bin")}}
    models = [
        model("acme/m", manager=manager, sha256="0" * 64),
        model("acme/raises"),
        model("acme/plain"),
    ]
    good = {
        "manifest.json": json.dumps({"name": "acme/zoo", "models": models}),
        "__init__.py": RAISING_INIT,
    }
    http_server.serve_bytes("/good.tar.gz", tarball(good))
    http_server.serve_bytes("/weights.bin", b"not the declared bytes")
    http_server.serve_bytes("/bad.tar.gz", b"this is not an archive")
    http_server.serve_bytes("/nomanifest.tar.gz", tarball({"README": "x"}))
    http_server.serve_bytes(
        "/badmanifest.tar.gz", tarball({"manifest.json": '{"models": [{"base_name": 1}]}'})
    )
    link = tarfile.TarInfo("zoo/escape")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
    http_server.serve_bytes("/unsafe.tar.gz", tarball({"manifest.json": '{"models": []}'}, [link]))
    return http_server


def spec(server, path: str) -> str:
    return server.url(f"{path}?token={SECRET}&x=1")


def test_redact_removes_passwords_with_unencoded_delimiters() -> None:
    for url in (
        f"http://user:pa?ss{SECRET}@h.example:8080/x.zip",
        f"http://user:pa/ss{SECRET}@h.example/x",
        f"http://user:pa#ss{SECRET}@h.example/x",
        f"https://u:{SECRET}@[::1]:9/x",
        f"https://{SECRET}@h.example/x",
        f"https://h.example/x?sig={SECRET}&a",
        f"https://h.example/x#access_token={SECRET}",
    ):
        shown = _core.redact(url)
        assert SECRET not in shown, url
        assert _core.redact(shown) == shown  # redacting twice changes nothing
    assert (
        _core.redact(f"manifest.json of http://h/x.tgz?token={SECRET}: bad")
        == "manifest.json of http://h/x.tgz?token=REDACTED: bad"
    )
    # What is not a secret stays as it is: '@' in paths, local files, plain text.
    for text in (
        "https://127.0.0.1:8080/models/clip@1.0.zip",
        "file:///tmp/a@b/c",
        "/home/u/x@y",
        "model 'acme/x@1.0' of source https://github.com/acme/zoo",
    ):
        assert _core.redact(text) == text


def test_every_exception_of_an_archive_source_is_redacted(server, caplog, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG, logger="remotezoo")
    cases = {
        "/bad.tar.gz": rz.ArchiveError,
        "/missing.tar.gz": rz.HTTPStatusError,
        "/nomanifest.tar.gz": rz.SourceError,
        "/badmanifest.tar.gz": rz.ManifestError,
        "/unsafe.tar.gz": rz.UnsafeArchiveError,
    }
    for path, kind in cases.items():
        with pytest.raises(kind) as info:
            rz.register_zoo_model_source(spec(server, path))
        assert_clean(info.value)
        assert info.value.source is None or "token=REDACTED" in info.value.source, info.value.source
    rz.register_zoo_model_source(spec(server, "/good.tar.gz"))
    identity = rz.list_zoo_model_sources()[0]
    assert SECRET in identity  # the handle, as registered (see the module's docstring)
    with pytest.raises(rz.ChecksumError) as checksum:
        rz.download_zoo_model("acme/m")
    assert checksum.value.source == _core.redact(identity)
    with pytest.raises(RuntimeError) as raised:  # the source's own error, with a note naming it
        rz.download_zoo_model("acme/raises")
    assert any("token=REDACTED" in note for note in raised.value.__notes__)
    with pytest.raises(rz.SourceError, match="no load_model") as missing:
        rz.load_zoo_model("acme/plain")
    for exc in (checksum.value, raised.value, missing.value):
        assert_clean(exc)
    monkeypatch.setenv("REMOTEZOO_OFFLINE", "1")
    with pytest.raises(rz.OfflineError) as offline:
        rz.register_zoo_model_source(identity, overwrite=True)
    assert_clean(offline.value)
    monkeypatch.delenv("REMOTEZOO_OFFLINE")
    rz.delete_zoo_model_source(identity)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Registered source" in m and "token=REDACTED" in m for m in messages), messages
    assert all(SECRET not in m for m in messages), messages


@pytest.mark.parametrize(
    "bad",
    [
        "http://user:pa?ss{s}@127.0.0.1:9/x.tar.gz",
        "http://user:pa/ss{s}@127.0.0.1:9/x.tar.gz",
        "http://user:pa#ss{s}@127.0.0.1:9/x.tar.gz",
        "https://{s}@github.com/u/r",
        "https://u:{s}@github.com/u/r",
    ],
)
def test_specs_with_credentials_never_echo_them(bad: str) -> None:
    # Refused as credentials (not as a bad port), by the rule the redaction uses.
    with pytest.raises(rz.SourceError, match="put tokens in GITHUB_TOKEN") as info:
        rz.register_zoo_model_source(bad.format(s=SECRET))
    assert_clean(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://u:p?w{s}@127.0.0.1:9/f.bin",
        "http://u:p#w{s}@127.0.0.1:9/f.bin",
        "http://u:p/w{s}@127.0.0.1:9/f.bin",
        "http://127.0.0.1:9/f.bin?sig={s}",
        "http://127.0.0.1:9/f.bin#token={s}",
    ],
)
def test_download_file_errors_never_carry_the_password(url: str, tmp_path: Path) -> None:
    with pytest.raises(rz.DownloadError) as info:
        rz.download_file(url.format(s=SECRET), tmp_path / "f.bin")
    assert_clean(info.value)
    assert info.value.url is not None


def test_cli_output_and_logs_are_redacted(server, capsys) -> None:
    source = spec(server, "/good.tar.gz")
    runs = [
        ["-v", "sources", "register", source],
        ["sources", "list"],
        ["--json", "sources", "list"],
        ["models", "list"],
        ["--json", "models", "list"],
        ["-v", "models", "info", "acme/m"],
        ["--json", "models", "info", "acme/m"],
        ["-vv", "models", "download", "acme/m"],
        ["models", "download", "acme/plain", "--source", source],
        ["--json", "models", "list-downloaded"],
        ["sources", "register", spec(server, "/bad.tar.gz")],
        ["-v", "sources", "delete", source],
    ]
    for argv in runs:
        main(argv)
        out, err = capsys.readouterr()
        assert SECRET not in out + err, (argv, out, err)
        if argv[0] == "--json":
            json.loads(out)
    assert rz.list_zoo_model_sources() == []


def test_on_disk_the_token_is_only_in_the_private_registry(server) -> None:
    rz.register_zoo_model_source(spec(server, "/good.tar.gz"))
    with pytest.raises(rz.ChecksumError):
        rz.download_zoo_model("acme/m")
    rz.download_zoo_model("acme/plain")
    holders = []
    for path in Path(rz.home()).rglob("*"):
        assert SECRET not in path.name, path
        if path.is_file() and not path.is_symlink() and SECRET.encode() in path.read_bytes():
            holders.append(path.relative_to(rz.home()).as_posix())
    assert holders == ["registry.json"]
    mode = stat.S_IMODE(os.stat(Path(rz.home()) / "registry.json").st_mode)
    assert mode & 0o077 == 0, oct(mode)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_characters="\x00", max_codepoint=0x2FF), max_size=300)
)
def test_redact_any_text_is_stable(text: str) -> None:
    once = _core.redact(text)
    assert _core.redact(once) == once


@settings(max_examples=300, deadline=None)
@given(
    user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    password=st.from_regex(r"[A-Za-z][A-Za-z0-9?#/!$&'()*+,;=.~-]{0,12}", fullmatch=True),
    host=st.sampled_from(["h.example", "127.0.0.1:8080", "[::1]"]),
    path=st.sampled_from(["", "/x.zip", "/a/b@1.0.tar.gz", "/x?y=1"]),
)
def test_redact_removes_any_password(user: str, password: str, host: str, path: str) -> None:
    url = f"https://{user}:{password}{SECRET}@{host}{path}"
    assert SECRET not in _core.redact(url)
    assert SECRET not in _core.redact(f"download of {url} failed: reason")
