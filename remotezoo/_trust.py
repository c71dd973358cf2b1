"""Which sources' code remotezoo runs: trust keyed to what was fetched, not to a name.

A decision is recorded for a source identity and its *content*: the commit sha of a GitHub
source, the sha256 of an archive source's archive. A local directory is trusted by the user
who registered it (its content changes as its author edits it). A branch force-pushed to other
code, or an archive replaced at the same URL, is other content: trusted again or not at all.

The policy (``REMOTEZOO_TRUST``, or the ``trust=`` keyword of the calls that run code):

- ``warn`` (the default, as FiftyOne): untrusted code runs; the first time code of a source is
  run at a content, a warning says which code that is and how to trust or refuse it;
- ``prompt``: asks on a terminal or in Jupyter, and refuses when nobody can answer;
- ``strict``: refuses code not trusted at exactly this content, naming the command that
  trusts it.

Decisions live in ``$REMOTEZOO_HOME/trust.json``, written atomically under a lock by the C core
(``_core.update_state``), private to its owner. A trust store that another user owns or may
write is not believed (whoever can write it could trust anything). Listing never runs code and
never needs trust.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import shlex
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Callable, Optional

from . import _core
from ._core import RemoteZooError
from ._errors import TrustStoreError, UntrustedSourceError
from ._home import home, read_only
from ._log import logger, shown

if TYPE_CHECKING:
    from ._core import _ModelInfo

POLICIES = ("warn", "prompt", "strict")
STORE = "trust.json"
_FORMAT = 1
_MAX_STORE_BYTES = 16 << 20
_MAX_SEEN = 1000  # warn mode remembers this many (source key, content) pairs it warned about

# (home, identity, content) warned about by this process (when the store cannot be written).
_warned: set[tuple[str, str, str]] = set()


def source_key(identity: str) -> str:
    """What a decision names its source by: the SHA-256 of its identity. An archive URL's
    identity keeps its query, which may hold a token; the trust store keeps only this and the
    redacted identity (the token stays in registry.json alone)."""
    return hashlib.sha256(identity.encode()).hexdigest()


@dataclass(frozen=True)
class Decision:
    """One trust decision: the source of key *key* (shown as *identity*, redacted) at *content*
    (``"local"`` for a local directory) whose fetched tree has digest *tree* (``None``: not
    recorded), made by user *uid*."""

    key: str
    identity: str
    kind: str
    content: str
    tree: Optional[str]
    uid: int
    trusted_at: str

    def matches(self, identity: str, content: str, tree: Optional[str], uid: int) -> bool:
        """Whether this decision trusts *identity* at *content* with tree digest *tree* for
        *uid*. The tree is part of the key: a bundle that claims a trusted commit for other
        files (remotezoo cannot recompute a commit id from files) is not trusted."""
        return (
            self.key == source_key(identity)
            and self.content == content
            and self.uid == uid
            and (self.kind == "local" or self.tree == tree)
        )


def policy(value: Optional[str] = None) -> str:
    """The policy *value* names, or ``$REMOTEZOO_TRUST`` (default ``warn``); ValueError for
    anything else."""
    where = "trust=" if value is not None else "REMOTEZOO_TRUST"
    text = value if value is not None else (os.environ.get("REMOTEZOO_TRUST") or "warn")
    if not isinstance(text, str) or text.strip().lower() not in POLICIES:
        raise ValueError(f"{where} must be one of {', '.join(POLICIES)}, not {shown(repr(text))}")
    return text.strip().lower()


def content_kind(kind: str) -> str:
    """What a content of a source of *kind* is, for messages."""
    return {"github": "commit", "archive": "archive sha256"}.get(kind, "directory")


def _valid_content(kind: str, content: str) -> bool:
    hexdigits = set("0123456789abcdef")
    if kind == "local":
        return content == "local"
    lengths = (40, 64) if kind == "github" else (64,)
    return len(content) in lengths and set(content) <= hexdigits


# ---- the store ------------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _damaged(path: str, why: str) -> TrustStoreError:
    return TrustStoreError(
        f"the trust store {path} is damaged ({why}); remove it and trust your sources "
        "again with 'remotezoo sources trust SPEC'"
    )


def _parse(path: str, data: bytes) -> tuple[list[Decision], list[tuple[str, str]]]:
    """(decisions, seen pairs) of a trust store's bytes; TrustStoreError when they are not what
    remotezoo writes."""
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise _damaged(path, f"not JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
        raise _damaged(path, f"not format {_FORMAT}")
    decisions: list[Decision] = []
    for item in doc.get("trusted", []):
        if not isinstance(item, dict):
            raise _damaged(path, "an entry of 'trusted' is not an object")
        key, identity, kind = item.get("source_sha256"), item.get("source"), item.get("kind")
        content, tree, uid, when = (
            item.get("content"),
            item.get("tree_sha256"),
            item.get("uid"),
            item.get("trusted_at"),
        )
        if not (
            isinstance(key, str)
            and isinstance(identity, str)
            and isinstance(kind, str)
            and isinstance(content, str)
            and isinstance(uid, int)
            and not isinstance(uid, bool)
            and isinstance(when, str)
        ):
            raise _damaged(path, "an entry of 'trusted' lacks a field")
        if not _valid_content("archive", key):
            raise _damaged(path, "a source_sha256 is no SHA-256")
        if kind not in ("github", "archive", "local") or not _valid_content(kind, content):
            raise _damaged(path, f"'{shown(content)}' is no {kind} content")
        if tree is not None and not _valid_content("archive", tree):
            raise _damaged(path, f"'{shown(tree)}' is no tree digest")
        decisions.append(Decision(key, identity, kind, content, tree, uid, when))
    seen: list[tuple[str, str]] = []
    for item in doc.get("seen", []):
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            raise _damaged(path, "an entry of 'seen' is not [source_sha256, content]")
        seen.append((item[0], item[1]))
    return decisions, seen


def _dump(decisions: list[Decision], seen: list[tuple[str, str]]) -> bytes:
    trusted = [
        {
            "source": d.identity,
            "source_sha256": d.key,
            "kind": d.kind,
            "content": d.content,
            "tree_sha256": d.tree,
            "uid": d.uid,
            "trusted_at": d.trusted_at,
        }
        for d in sorted(decisions, key=lambda d: (d.identity, d.key, d.content, d.uid))
    ]
    doc = {"format": _FORMAT, "trusted": trusted, "seen": [list(s) for s in seen[-_MAX_SEEN:]]}
    return (json.dumps(doc, indent=2) + "\n").encode()


def _open(path: str) -> Optional[BinaryIO]:
    """The store at *path* open for reading, or ``None`` when there is none. A store another
    user owns, or that group or others may write, is a TrustStoreError: it could trust
    anything."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise TrustStoreError(f"cannot read the trust store {path}: {err.strerror}") from None
    f = os.fdopen(fd, "rb")
    try:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _damaged(path, "not a file")
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise TrustStoreError(
                f"the trust store {path} is owned by uid {st.st_uid} or writable by others "
                f"(mode {stat.filemode(st.st_mode)}); it is not believed. Only its owner "
                "may write it: remove it, or chmod 600 it if it is yours"
            )
    except BaseException:
        f.close()
        raise
    return f


def _read(root: str) -> tuple[list[Decision], list[tuple[str, str]]]:
    """The store of *root* (empty when there is none), its owner checked (:func:`_open`).
    Readers never lock: the C core replaces the file by rename()."""
    path = os.path.join(root, STORE)
    f = _open(path)
    if f is None:
        return [], []
    with f:
        data = f.read(_MAX_STORE_BYTES + 1)
    if len(data) > _MAX_STORE_BYTES:
        raise _damaged(path, "larger than 16 MiB")
    return _parse(path, data)


def _update(root: str, change: Callable[[list[Decision], list[tuple[str, str]]], bool]) -> None:
    """Change the store under its lock: *change* edits the lists in place and says whether
    anything changed (then the file is written atomically)."""
    path = os.path.join(root, STORE)

    def apply(old: Optional[bytes]) -> Optional[bytes]:
        decisions, seen = _parse(path, old) if old is not None else ([], [])
        if old is not None:
            store = _open(path)  # the owner check: never extend a store someone else can write
            if store is not None:
                store.close()
        return _dump(decisions, seen) if change(decisions, seen) else None

    _core.update_state(root, STORE, apply)


def decisions(root: Optional[str] = None) -> list[Decision]:
    """The recorded trust decisions, sorted."""
    return sorted(_read(root or home())[0], key=lambda d: (d.identity, d.content, d.uid))


def is_trusted(
    identity: str,
    kind: str,
    content: Optional[str],
    tree: Optional[str],
    root: Optional[str] = None,
    recorded: Optional[list[Decision]] = None,
) -> bool:
    """Whether this user trusts *identity* at *content* and tree digest *tree* (any content
    for a local directory), by the store of *root* or the decisions *recorded* (read from it
    once by a caller that asks of many sources)."""
    if kind == "local":
        content = "local"
    if not content:
        return False
    uid = os.geteuid()
    if recorded is None:
        recorded = _read(root or home())[0]
    return any(d.matches(identity, content, tree, uid) for d in recorded)


def record(
    identity: str, kind: str, content: str, tree: Optional[str], root: Optional[str] = None
) -> None:
    """Record that this user trusts *identity* at *content* and tree digest *tree*."""
    if kind == "local":
        content, tree = "local", None
    if not _valid_content(kind, content):
        raise ValueError(
            f"'{shown(content)}' is not a {content_kind(kind)} of source {shown(identity)}"
        )
    uid = os.geteuid()

    def add(decisions: list[Decision], seen: list[tuple[str, str]]) -> bool:
        if any(d.matches(identity, content, tree, uid) for d in decisions):
            return False
        decisions.append(
            Decision(source_key(identity), _core.redact(identity), kind, content, tree, uid, _now())
        )
        return True

    _update(root or home(), add)


def forget(identity: str, content: Optional[str] = None, root: Optional[str] = None) -> int:
    """Drop this user's decisions for *identity* (only the one at *content* when given);
    return how many were dropped."""
    uid = os.geteuid()
    dropped = 0

    def drop(decisions: list[Decision], seen: list[tuple[str, str]]) -> bool:
        nonlocal dropped
        key = source_key(identity)
        keep = [
            d
            for d in decisions
            if not (d.key == key and d.uid == uid and (content is None or d.content == content))
        ]
        dropped = len(decisions) - len(keep)
        decisions[:] = keep
        return dropped > 0

    _update(root or home(), drop)
    return dropped


# ---- the gate ---------------------------------------------------------------------------------


def _code_summary(source_dir: str) -> str:
    """The Python files of a source directory, for a person deciding whether to run them."""
    files: list[str] = []
    total = 0
    for base, dirs, names in os.walk(source_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(base, name)
                files.append(os.path.relpath(path, source_dir))
                try:
                    total += os.lstat(path).st_size
                except OSError:
                    pass
    shown_files = ", ".join(files[:6]) + (f" and {len(files) - 6} more" if len(files) > 6 else "")
    return f"{shown_files or 'no .py files'} ({total} bytes of Python in {source_dir})"


def _what(identity: str, kind: str, content: Optional[str]) -> str:
    if kind == "local":
        return f"local source {identity}"
    return f"source {identity} at {content_kind(kind)} {content or '(not recorded)'}"


def trust_command(identity: str, kind: str, content: Optional[str]) -> str:
    """The command line that trusts *identity* at exactly *content*, quoted for a POSIX shell:
    an identity is a stranger's URL or a directory name, and a person pastes this line."""
    at = f" --at {content}" if kind != "local" and content else ""
    return f"remotezoo sources trust {shlex.quote(identity)}{at}"


def _in_jupyter() -> bool:
    return "ipykernel" in sys.modules


def ask(question: str) -> Optional[bool]:
    """Ask a person *question* (y/N) on the terminal or in Jupyter; ``None`` when nobody can
    answer (no terminal, stdin closed, a kernel without stdin)."""
    if _in_jupyter():
        try:
            answer = input(question)
        except (EOFError, OSError, RuntimeError):  # StdinNotImplementedError is a RuntimeError
            return None
        return answer.strip().lower() in ("y", "yes")
    try:
        if not (sys.stdin and sys.stdin.isatty() and sys.stderr and sys.stderr.isatty()):
            return None
        sys.stderr.write(question)
        sys.stderr.flush()
        line = sys.stdin.readline()
    except (AttributeError, OSError, ValueError):
        return None
    if not line:
        return None
    return line.strip().lower() in ("y", "yes")


def _warn_once(
    root: str, identity: str, kind: str, content: Optional[str], source_dir: str, what: str
) -> None:
    key = (root, identity, content or "")
    if key in _warned:
        return
    _warned.add(key)
    pair = (source_key(identity), content or "")
    new = True
    if not read_only(root):

        def remember(decisions: list[Decision], seen: list[tuple[str, str]]) -> bool:
            nonlocal new
            new = pair not in seen
            if new:
                seen.append(pair)
            return new

        try:
            _update(root, remember)
        except (OSError, RemoteZooError):
            pass  # a store that cannot be written: this process warns once, as without one
    if new:
        logger().warning(
            "running untrusted code of %s: %s for %s; trust it with: %s (REMOTEZOO_TRUST=strict "
            "refuses "
            "untrusted code, =prompt asks)",
            shown(_what(identity, kind, content)),
            shown(_code_summary(source_dir)),
            shown(what),
            shown(trust_command(identity, kind, content)),
        )


def check(
    identity: str,
    kind: str,
    content: Optional[str],
    tree: Optional[str],
    source_dir: str,
    what: str,
    trust: Optional[str] = None,
    root: Optional[str] = None,
) -> None:
    """Decide whether code of *identity* at *content* (tree digest *tree*), in *source_dir*,
    may run for *what* (such as ``"load_model of 'x@1.0'"``), by the policy *trust* (default
    ``$REMOTEZOO_TRUST``). Returns, or raises :class:`UntrustedSourceError`; in frozen mode
    (``REMOTEZOO_LOCKFILE``) code the lock does not hold at exactly this content raises
    :class:`LockFileError` first, whatever the policy: every path that runs a source's code comes
    here (a worker unpickling an object of it, a model's own ``load_model()`` too)."""
    if os.environ.get("REMOTEZOO_LOCKFILE"):
        from . import _lockfile

        _lockfile.check_code(identity, kind, content, tree)
    mode = policy(trust)
    root = root or home()
    if kind == "local":
        content = "local"
    try:
        trusted = is_trusted(identity, kind, content, tree, root)
    except TrustStoreError:
        if mode != "warn":
            raise
        trusted = False
    if trusted:
        return
    if mode == "warn":
        _warn_once(root, identity, kind, content, source_dir, what)
        return
    subject = _what(identity, kind, content)
    if not content:
        raise UntrustedSourceError(
            f"{subject}: its content was not recorded (registered by an older remotezoo), so it "
            "cannot be "
            f"trusted (REMOTEZOO_TRUST={mode}); register it again with overwrite=True"
        )
    if mode == "prompt":
        answer = ask(
            f"remotezoo: {shown(subject)} is about to run {shown(what)}: "
            f"{shown(_code_summary(source_dir))}.\nTrust and run it? [y/N] "
        )
        if answer:
            record(identity, kind, content, tree, root)
            return
        reason = "you answered no" if answer is False else "nobody can answer the prompt here"
        raise UntrustedSourceError(
            f"refused to run {what} of {subject} (REMOTEZOO_TRUST=prompt: {reason}); "
            f"trust it with: {trust_command(identity, kind, content)}"
        )
    raise UntrustedSourceError(
        f"refused to run {what} of {subject}: it is not trusted at exactly this "
        f"{content_kind(kind)} (REMOTEZOO_TRUST=strict); review it, then trust it "
        f"with: {trust_command(identity, kind, content)}"
    )


def gate(trust: Optional[str] = None, root: Optional[str] = None) -> Callable[..., None]:
    """The callable the C core calls before it imports or calls a source's code:
    ``gate(identity, kind, content, tree_sha256, source_dir, what)`` returns or raises
    (:func:`check` with this policy and home). The C core passes what the generation it pinned
    was registered at, so no re-registration between the check and the import can slip other
    code in. A bad policy fails here, before anything runs."""
    return functools.partial(check, trust=policy(trust), root=root or home())


# ---- code a manifest names (requirements entrypoints, default_deployment_config_dict types) -----

_Running = tuple[str, str, Optional[str], Optional[str], str, Optional[str]]
_running: ContextVar[Optional[_Running]] = ContextVar("remotezoo_trust_running", default=None)


@contextmanager
def running(info: Optional[_ModelInfo], trust: Optional[str] = None) -> Iterator[None]:
    """While the block runs, code the manifest of *info*'s model names (a requirements
    entrypoint, a ``default_deployment_config_dict`` type) is code of its source at the
    content it was resolved at: :func:`before_manifest_code` checks it."""
    value: Optional[_Running] = None
    if info is not None:
        value = (
            info["source"],
            info["kind"],
            info.get("content"),
            info.get("tree_sha256"),
            info["source_dir"],
            trust,
        )
    token = _running.set(value)
    try:
        yield
    finally:
        _running.reset(token)


def before_manifest_code(what: str) -> None:
    """Check the trust of the source whose manifest names *what* (``"entrypoint x.y"``), as
    :func:`running` set it; a manifest of no registered source (``load_manifest``) has no
    content to trust: refused unless the policy is ``warn``."""
    context = _running.get()
    if context is not None:
        identity, kind, content, tree, source_dir, trust = context
        check(identity, kind, content, tree, source_dir, what, trust)
        return
    mode = policy()
    if mode == "warn":
        logger().warning("running %s named by a manifest of no registered source", shown(what))
        return
    raise UntrustedSourceError(
        f"refused to run {what}: it is named by a manifest of no registered source, "
        f"which cannot be trusted (REMOTEZOO_TRUST={mode})"
    )
