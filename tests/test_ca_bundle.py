"""The CA certificates downloads verify TLS peers with (csrc/net/ca_bundle.c): the environment's
(SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, SSL_CERT_DIR), else libcurl's own, else the
first system bundle of the places Linux distributions keep one; an https URL with none found is
a clear error. A real HTTPS server on loopback with a CA made here (trustme); the system
layouts are made in a private mount namespace whose /etc is an overlay, so the machine's own
/etc is never touched."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from helpers.servers import LoopbackServer

import remotezoo as rz

CA_VARS = ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR")
DATA = b"weights " * 1000

# Every place csrc/net/ca_bundle.c looks for a bundle file, and for a directory of hashed certificates.
BUNDLE_FILES = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
]
BUNDLE_DIRS = ["/etc/ssl/certs", "/etc/pki/tls/certs"]


@pytest.fixture(autouse=True)
def no_ca_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CA_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_pem(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[LoopbackServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = LoopbackServer("127.0.0.1", tls=context)
    server.serve_bytes("/w.bin", DATA)
    yield server
    server.close()


def subject_hash(pem: bytes) -> str:
    """OpenSSL's subject-name hash of a certificate: the name it must have in a directory of
    hashed certificates (what `openssl rehash` makes), from the machine's libcrypto."""
    crypto = ctypes.CDLL(ctypes.util.find_library("crypto"))
    crypto.BIO_new_mem_buf.restype = ctypes.c_void_p
    crypto.BIO_new_mem_buf.argtypes = [ctypes.c_char_p, ctypes.c_int]
    crypto.PEM_read_bio_X509.restype = ctypes.c_void_p
    crypto.PEM_read_bio_X509.argtypes = [ctypes.c_void_p] + [ctypes.c_void_p] * 3
    crypto.X509_get_subject_name.restype = ctypes.c_void_p
    crypto.X509_get_subject_name.argtypes = [ctypes.c_void_p]
    try:  # OpenSSL 3; 1.1 has X509_NAME_hash
        name_hash = lambda name: crypto.X509_NAME_hash_ex(name, None, None, None)  # noqa: E731
        crypto.X509_NAME_hash_ex.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_void_p,
        ]
        crypto.X509_NAME_hash_ex.restype = ctypes.c_ulong
    except AttributeError:
        name_hash = crypto.X509_NAME_hash
        crypto.X509_NAME_hash.argtypes = [ctypes.c_void_p]
        crypto.X509_NAME_hash.restype = ctypes.c_ulong
    bio = crypto.BIO_new_mem_buf(pem, len(pem))
    cert = crypto.PEM_read_bio_X509(bio, None, None, None)
    try:
        return "%08x" % name_hash(crypto.X509_get_subject_name(cert))
    finally:
        crypto.X509_free.argtypes = crypto.BIO_free.argtypes = [ctypes.c_void_p]
        crypto.X509_free(cert)
        crypto.BIO_free(bio)


def hashed_dir(ca: trustme.CA, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pem = ca.cert_pem.bytes()
    (directory / f"{subject_hash(pem)}.0").write_bytes(pem)
    return directory


# ---- the environment ---------------------------------------------------------------------


@pytest.mark.parametrize("var", ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"])
def test_a_variable_names_the_bundle(
    var: str,
    ca_pem: Path,
    tls_server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(var, str(ca_pem))
    rz.download_file(tls_server.url("/w.bin"), str(tmp_path / "w.bin"))
    assert (tmp_path / "w.bin").read_bytes() == DATA


def test_ssl_cert_file_wins_over_the_others(
    ca_pem: Path, tls_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "missing.pem"))
    rz.download_file(tls_server.url("/w.bin"), str(tmp_path / "w.bin"))
    monkeypatch.setenv("SSL_CERT_FILE", "")  # empty counts as unset, as for curl
    monkeypatch.setenv("CURL_CA_BUNDLE", str(ca_pem))
    rz.download_file(tls_server.url("/w.bin"), str(tmp_path / "w2.bin"))
    assert (tmp_path / "w2.bin").read_bytes() == DATA


def test_ssl_cert_dir_of_hashed_certificates(
    ca: trustme.CA, tls_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed_dir(ca, tmp_path / "certs")))
    rz.download_file(tls_server.url("/w.bin"), str(tmp_path / "w.bin"))
    assert (tmp_path / "w.bin").read_bytes() == DATA


def test_peers_are_verified(tls_server: LoopbackServer, tmp_path: Path) -> None:
    """Without our CA configured the machine's own trust store is used, which does not know it."""
    with pytest.raises(rz.DownloadError) as info:
        rz.download_file(tls_server.url("/w.bin"), str(tmp_path / "w.bin"))
    assert "certificate" in str(info.value).lower()
    assert not (tmp_path / "w.bin").exists()


# ---- the system's bundle, as each distribution lays it out ---------------------------------


def in_private_etc(tmp_path: Path, setup: str, code: str) -> subprocess.CompletedProcess:
    """Run Python *code* (remotezoo imported from where this process imports it) in a private
    mount namespace whose /etc is an overlay with /etc/ssl and /etc/pki removed, after the shell
    commands *setup* built the layout under test there."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    root = os.path.dirname(os.path.dirname(os.path.abspath(rz.__file__)))
    script = (
        f"set -e; mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc; "
        f'rm -rf /etc/ssl /etc/pki; {setup}; exec "$0" -c "$1"'
    )
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare[1:1] = ["--user", "--map-root-user"]
    env = {k: v for k, v in os.environ.items() if k not in CA_VARS}
    env["PYTHONPATH"] = root
    return subprocess.run(
        [*unshare, "sh", "-c", script, sys.executable, textwrap.dedent(code)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def private_etc(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    proc = in_private_etc(probe, "true", "pass")
    if proc.returncode != 0:
        pytest.skip(
            f"no private mount namespace with an overlay /etc here (needs root or user "
            f"namespaces): {proc.stderr.strip()[-300:]}"
        )


DOWNLOAD = """
    import remotezoo as rz
    try:
        rz.download_file({url!r}, "w.bin")
    except rz.DownloadError as e:
        print(f"DownloadError: {{e}} | {{e.url}}")
        raise SystemExit(3)
    print("ok", open("w.bin", "rb").read() == {data!r})
"""


@pytest.mark.parametrize("bundle", BUNDLE_FILES)
def test_each_distributions_bundle_is_found(
    bundle: str, ca: trustme.CA, tls_server: LoopbackServer, tmp_path: Path, private_etc: None
) -> None:
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    setup = f"mkdir -p {os.path.dirname(bundle)}; cp {tmp_path / 'ca.pem'} {bundle}"
    proc = in_private_etc(tmp_path, setup, DOWNLOAD.format(url=tls_server.url("/w.bin"), data=DATA))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok True", proc.stdout + proc.stderr


@pytest.mark.parametrize("directory", BUNDLE_DIRS)
def test_a_directory_of_hashed_certificates_is_found(
    directory: str, ca: trustme.CA, tls_server: LoopbackServer, tmp_path: Path, private_etc: None
) -> None:
    certs = hashed_dir(ca, tmp_path / "certs")
    setup = f"mkdir -p {directory}; cp {certs}/* {directory}/"
    proc = in_private_etc(tmp_path, setup, DOWNLOAD.format(url=tls_server.url("/w.bin"), data=DATA))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok True", proc.stdout + proc.stderr


def test_no_bundle_anywhere_is_a_clear_error_for_https_only(
    tls_server: LoopbackServer, http_server: LoopbackServer, tmp_path: Path, private_etc: None
) -> None:
    code = DOWNLOAD.format(url=tls_server.url("/w.bin"), data=DATA)
    proc = in_private_etc(tmp_path, "true", code)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    message = proc.stdout.strip()
    assert "no CA certificates to verify TLS peers" in message
    assert "install your system's ca-certificates package or set SSL_CERT_FILE" in message
    assert message.endswith(" | " + tls_server.url("/w.bin")) and "\n" not in message

    http_server.serve_bytes("/w.bin", DATA)  # plain http needs no CA
    (tmp_path / "http").mkdir()
    proc = in_private_etc(
        tmp_path / "http", "true", code.replace(tls_server.url("/w.bin"), http_server.url("/w.bin"))
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok True", proc.stdout + proc.stderr
