"""Looking after a cache: what it holds (``du``), whether it is intact (``verify``), what is
garbage (``gc``) and whether this machine is set up to use it (``doctor``).

The digest of every model is recorded when its download completes (by the C core, in
``records/``: csrc/core/records.h), so ``verify`` re-hashes what is on disk against what
arrived. ``gc`` asks the C core, which knows who holds what: a temporary of a download running
in another process, or a source tree a running load has pinned, is in use, never garbage.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from . import _core
from ._home import home, read_only, require_writable
from ._log import shown

if TYPE_CHECKING:
    from ._core import _ModelInfo

_RECORD_FORMAT = 1
_MAX_RECORD_BYTES = 64 << 10
_GITHUB_TOKEN_MAX = 8192 - 32  # csrc/core/source.c's GITHUB_AUTH_MAX, less "Authorization: Bearer "


# ---- digests recorded at download ------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """What was recorded of a model when its download completed."""

    name: str
    kind: str  # "file" or "tree"
    size: int
    sha256: str
    recorded_at: str


def read_record(info: _ModelInfo) -> Optional[Record]:
    """The record of *info*'s model, or ``None`` when there is none (a model an older
    remotezoo downloaded) or it is not one remotezoo writes (a damaged record proves nothing:
    the model counts as unrecorded)."""
    path = info.get("record_path")
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        data = f.read(_MAX_RECORD_BYTES + 1)
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    rel = os.path.relpath(info["model_path"], os.path.join(home(), "models"))
    if (
        not isinstance(doc, dict)
        or doc.get("format") != _RECORD_FORMAT
        or doc.get("name") != info["name"]
        or doc.get("path") != rel
    ):
        return None
    kind, size, sha, when = (
        doc.get("kind"),
        doc.get("size"),
        doc.get("sha256"),
        doc.get("recorded_at"),
    )
    if (
        kind not in ("file", "tree")
        or not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
        or not isinstance(sha, str)
        or len(sha) != 64
        or not set(sha) <= set("0123456789abcdef")
        or not isinstance(when, str)
    ):
        return None
    return Record(info["name"], kind, size, sha, when)


# ---- du ----------------------------------------------------------------------------------------


def disk_usage(path: str, seen: Optional[set[tuple[int, int]]] = None) -> int:
    """Bytes *path* takes on disk (``du``: allocated blocks, each inode once, symbolic links
    not followed)."""
    seen = set() if seen is None else seen
    total = 0
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    stack = [(path, st)]
    while stack:
        here, st = stack.pop()
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            try:
                names = os.listdir(here)
            except OSError:
                continue
            for name in names:
                child = os.path.join(here, name)
                try:
                    stack.append((child, os.lstat(child)))
                except OSError:
                    pass
    return total


@dataclass
class ModelUsage:
    name: str
    path: str
    bytes: int


@dataclass
class SourceUsage:
    identity: str
    kind: str
    tree_bytes: int
    models_bytes: int
    models: list[ModelUsage] = field(default_factory=list)


@dataclass
class Usage:
    """What ``remotezoo cache du`` reports."""

    home: str
    total_bytes: int
    sources: list[SourceUsage]
    other_bytes: int  # registry, locks, trash, temporaries: everything not a source or a model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _model_paths(path: str) -> list[str]:
    """The model at *path* and, for an archive model's layout (a link to a directory beside
    it), that directory."""
    paths = [path]
    if os.path.islink(path):
        target = os.path.join(os.path.dirname(path), os.readlink(path))
        if os.path.dirname(os.path.normpath(target)) == os.path.dirname(path):
            paths.append(target)
    return paths


def model_bytes(model_path: str, seen: Optional[set[tuple[int, int]]] = None) -> int:
    """Bytes the downloaded model at *model_path* takes on disk (:func:`disk_usage`, with an
    archive model's directory beside its link); what ``cache du`` and ``models
    list-downloaded`` show."""
    seen = set() if seen is None else seen
    return sum(disk_usage(p, seen) for p in _model_paths(model_path))


def usage() -> Usage:
    """Sizes on disk, by source and model. Reads only (a read-only cache works)."""
    root = home()
    if not os.path.isdir(root):
        return Usage(root, 0, [], 0)  # nothing yet (and listing would make it)
    seen: set[tuple[int, int]] = set()
    downloaded: dict[str, list[_ModelInfo]] = {}
    for info in _core.list_downloaded(root):
        downloaded.setdefault(info["source"], []).append(info)
    sources: list[SourceUsage] = []
    for source in sorted(_core.list_sources(root), key=lambda s: s["identity"]):
        tree = source.get("tree")
        # A local source lives outside the cache: only what it downloaded counts.
        tree_bytes = 0
        if source["kind"] != "local" and tree:
            tree_bytes = disk_usage(os.path.dirname(os.path.dirname(tree)), seen)  # sources/<slug>
        models = [
            ModelUsage(i["name"], i["model_path"], model_bytes(i["model_path"], seen))
            for i in sorted(downloaded.get(source["identity"], []), key=lambda i: i["name"])
        ]
        sources.append(
            SourceUsage(
                _core.redact(source["identity"]),
                source["kind"],
                tree_bytes,
                sum(m.bytes for m in models),
                models,
            )
        )
    accounted = sum(s.tree_bytes + s.models_bytes for s in sources)
    other = disk_usage(root, seen)  # what the sources and models above did not count
    return Usage(root, accounted + other, sources, other)


# ---- verify ------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One model (or source tree) as ``cache verify`` found it."""

    what: str  # "model" or "source"
    name: str
    source: str
    path: str
    status: str  # "ok", "corrupt", "unrecorded", "unreadable"; "deleted" after --delete
    expected: Optional[str] = None
    actual: Optional[str] = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hash(path: str, skip_pycache: bool = False) -> tuple[str, int, str]:
    from . import _digest

    return _digest.digest(path, follow=True, skip_pycache=skip_pycache)


def verify(delete: bool = False) -> list[Verdict]:
    """Re-hash every downloaded model (and every fetched source tree) against the digest
    recorded when it arrived. With *delete*, a corrupt model is deleted (atomically, as
    :func:`remotezoo.delete_zoo_model` does); it downloads again when next asked for."""
    root = home()
    if delete:
        require_writable(root, "delete corrupt models")
    out: list[Verdict] = []
    if not os.path.isdir(root):
        return out
    for source in sorted(_core.list_sources(root), key=lambda s: s["identity"]):
        recorded, tree = source.get("tree_sha256"), source.get("tree")
        if source["kind"] == "local" or not tree:
            continue
        verdict = Verdict(
            "source",
            _core.redact(source["identity"]),
            _core.redact(source["identity"]),
            tree,
            "unrecorded",
            recorded,
        )
        try:
            verdict.actual = _hash(tree, skip_pycache=True)[2]
        except OSError as err:
            verdict.status, verdict.detail = "unreadable", str(err)
        else:
            if recorded:
                verdict.status = "ok" if verdict.actual == recorded else "corrupt"
        if verdict.status == "corrupt":
            verdict.detail = (
                "the source's files changed since it was fetched; register it again "
                "(delete it first)"
            )
        out.append(verdict)
    for info in sorted(_core.list_downloaded(root), key=lambda i: (i["source"], i["name"])):
        record = read_record(info)
        verdict = Verdict(
            "model",
            info["name"],
            _core.redact(info["source"]),
            info["model_path"],
            "unrecorded",
            record.sha256 if record else None,
        )
        try:
            kind, size, verdict.actual = _hash(info["model_path"])
        except (OSError, ValueError) as err:
            verdict.status, verdict.detail = "unreadable", str(err)
        else:
            if record is None:
                verdict.detail = (
                    "no digest was recorded at download (an older remotezoo downloaded it)"
                )
            elif (kind, verdict.actual) == (record.kind, record.sha256):
                verdict.status = "ok"
            else:
                verdict.status = "corrupt"
                verdict.detail = f"{kind} of {size} bytes; {record.size} bytes arrived"
        if verdict.status in ("corrupt", "unreadable") and delete:
            _core.delete_model(root, info["name"], info["source"])
            verdict.status = "deleted"
        out.append(verdict)
    return out


# ---- gc ----------------------------------------------------------------------------------------


@dataclass
class Garbage:
    """One thing ``cache gc`` found: *kind* is ``temporary`` (what a killed download or
    registration left), ``retired`` (an old source tree), ``lock`` (a lock file no process
    holds), ``trash`` (what a killed removal left), ``orphan`` (models of a deleted source),
    ``record`` (the digest record of a model that is gone) or ``index`` (a temporary of the
    registry). *state*: ``garbage`` (dry run), ``removed``, or ``in use`` (held by a live
    process: kept)."""

    kind: str
    path: str
    bytes: int
    state: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gc(apply: bool = False) -> list[Garbage]:
    """Find (and with *apply*, remove) what no registered source, downloaded model or live
    process uses. A dry run by default; it writes nothing."""
    root = home()
    if apply:
        require_writable(root, "collect garbage")
    if not os.path.isdir(root):
        return []
    found = _core.cache_gc(root, apply)
    return [Garbage(g["kind"], g["path"], g["bytes"], g["state"]) for g in found]


# ---- doctor ------------------------------------------------------------------------------------


@dataclass
class Check:
    """One line of ``remotezoo doctor``: *ok*, and what was found or what to do."""

    name: str
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def human_size(n: float) -> str:
    """*n* bytes for people: ``512 B``, ``97.7 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _check_home(root: str) -> Check:
    probe = root
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        st = os.statvfs(probe)
    except OSError as err:
        return Check(
            "home",
            False,
            f"{root}: cannot be read ({err.strerror}); set REMOTEZOO_HOME to a directory "
            "you can write",
        )
    free = st.f_bavail * st.f_frsize
    where = root if probe == root else f"{root} (not made yet; {probe} is)"
    if read_only(probe):
        return Check(
            "home",
            True,
            f"{where}: read-only ({human_size(free)} free): loading downloaded models works, "
            "registering and downloading do not",
        )
    if free < (1 << 30):
        return Check(
            "home",
            False,
            f"{where}: writable but only {human_size(free)} free; free space, or set "
            "REMOTEZOO_HOME to a larger disk",
        )
    return Check("home", True, f"{where}: writable, {human_size(free)} free")


def _check_ca() -> Check:
    """The CA certificates every TLS transfer verifies peers with, found by the C core's own
    rule (csrc/net/ca_bundle.h): an environment variable is used as given, so one that names
    no file is what to fix."""
    from . import _net

    tls = _net.tls_defaults()
    bundle, directory = tls.get("cainfo"), tls.get("capath")
    given = {
        os.environ.get(n): n for n in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
    }
    given.pop(None, None)
    given.pop("", None)
    if bundle and bundle in given and not os.path.isfile(bundle):
        return Check(
            "ca",
            False,
            f"{given[bundle]}={bundle} is not a file; point it at a CA bundle (PEM) or unset it",
        )
    if directory and directory == os.environ.get("SSL_CERT_DIR") and not os.path.isdir(directory):
        return Check("ca", False, f"SSL_CERT_DIR={directory} is not a directory; fix or unset it")
    if bundle:
        origin = f"from {given[bundle]}" if bundle in given else "found on this machine"
        return Check("ca", True, f"CA bundle {bundle} ({origin})")
    if directory:
        return Check("ca", True, f"CA directory {directory}")
    return Check(
        "ca",
        False,
        "no CA certificates found (no system bundle, SSL_CERT_FILE not set); install "
        "ca-certificates or set SSL_CERT_FILE",
    )


def _check_proxy() -> Check:
    names = (
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    )
    found = [f"{n}={_core.redact(os.environ[n])}" for n in names if os.environ.get(n)]
    return Check("proxy", True, ", ".join(found) if found else "no proxy set (direct connections)")


def _check_offline() -> Check:
    offline = os.environ.get("REMOTEZOO_OFFLINE", "") not in ("", "0")
    return Check(
        "offline",
        True,
        "REMOTEZOO_OFFLINE is set: no network; registered sources and downloaded "
        "models keep working"
        if offline
        else "online (REMOTEZOO_OFFLINE is not set)",
    )


def _check_github() -> Check:
    from . import _net

    if os.environ.get("REMOTEZOO_OFFLINE", "") not in ("", "0"):
        return Check("github", True, "offline: GitHub not checked")
    api = (os.environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    token = os.environ.get("GITHUB_TOKEN")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        # The rule csrc/core/source.c's github_headers_init applies before it sends the token.
        if any(not 0x20 < ord(c) < 0x7F for c in token) or len(token) > _GITHUB_TOKEN_MAX:
            return Check(
                "github",
                False,
                "GITHUB_TOKEN is not a valid token (a space, a line break, a control "
                "character, a non-ASCII character, or longer than 8 KiB); remotezoo will not send "
                "it: "
                "set it to the token alone",
            )
        headers["Authorization"] = f"Bearer {token}"
    try:
        status, _, found = _net.http_get(
            f"{api}/rate_limit",
            headers=headers,
            wanted=["x-ratelimit-remaining", "x-ratelimit-limit"],
            max_bytes=65536,
        )
    except (OSError, ValueError) as err:
        return Check(
            "github",
            False,
            f"cannot reach {_core.redact(api)}: {err}; check GITHUB_API_URL, the "
            "network, the proxy and the CA bundle",
        )
    left, limit = found.get("x-ratelimit-remaining"), found.get("x-ratelimit-limit")
    if left is not None and not left.strip().isdigit():
        left = None  # not a count: the server's header is not GitHub's
    rate = (
        f"{left} of {limit} API requests left this hour"
        if left is not None
        else "rate limit not reported"
    )
    if status == 401:
        return Check(
            "github",
            False,
            f"GITHUB_TOKEN was refused by {_core.redact(api)} (401); renew it or unset it",
        )
    if status != 200:
        return Check(
            "github",
            False,
            f"{_core.redact(api)}/rate_limit answered {status}; check GITHUB_API_URL",
        )
    if token:
        return Check("github", True, f"GITHUB_TOKEN accepted by {_core.redact(api)}; {rate}")
    ok = left is None or int(left.strip()) > 0
    return Check(
        "github",
        ok,
        f"no GITHUB_TOKEN: {rate} at {_core.redact(api)}"
        + ("" if ok else "; set GITHUB_TOKEN for 5000 an hour"),
    )


def _check_trust() -> Check:
    from . import _trust

    try:
        mode = _trust.policy()
        decisions = _trust.decisions()
    except (ValueError, OSError) as err:
        return Check("trust", False, str(err))
    return Check(
        "trust", True, f"REMOTEZOO_TRUST={mode}; {len(decisions)} trust decisions recorded"
    )


def _check_lockfile() -> Check:
    from . import _lockfile

    path = os.environ.get("REMOTEZOO_LOCKFILE")
    if not path:
        return Check("lockfile", True, "not frozen (REMOTEZOO_LOCKFILE is not set)")
    try:
        lock = _lockfile.frozen()
    except ValueError as err:
        return Check("lockfile", False, f"{err}; fix the file or unset REMOTEZOO_LOCKFILE")
    assert lock is not None
    return Check(
        "lockfile",
        True,
        f"frozen to {path}: {len(lock.sources)} sources, "
        f"{sum(len(s.models) for s in lock.sources)} models",
    )


def _check_versions() -> Check:
    from . import __version__, library_versions

    try:
        libs = ", ".join(f"{k} {v}" for k, v in library_versions().items())
    except ImportError as err:
        return Check(
            "versions", False, f"remotezoo._net cannot be loaded ({err}); reinstall remotezoo"
        )
    return Check(
        "versions", True, f"remotezoo {__version__}, Python {sys.version.split()[0]}, {libs}"
    )


def doctor() -> list[Check]:
    """Check what this machine needs to use remotezoo; one :class:`Check` per subject."""
    root = home()
    checks = [_check_home(root)]
    if os.path.isdir(root):
        try:
            _core.list_sources(root)
            checks.append(Check("registry", True, f"{os.path.join(root, 'registry.json')} reads"))
        except (OSError, ValueError) as err:
            checks.append(Check("registry", False, shown(err)))
    checks += [
        _check_trust(),
        _check_lockfile(),
        _check_ca(),
        _check_proxy(),
        _check_offline(),
        _check_github(),
        _check_versions(),
    ]
    return checks
