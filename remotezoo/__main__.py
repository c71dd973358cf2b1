"""The remotezoo command line: ``remotezoo`` or ``python -m remotezoo``.

    remotezoo sources list | register SPEC [--overwrite] | delete SPEC
    remotezoo sources trust SPEC [--at CONTENT] | untrust SPEC [--at CONTENT]
    remotezoo models list [-t TAGS] [-s SPEC] [-l LICENSES] [-d] [-n]
    remotezoo models info NAME | download NAME [--overwrite] | delete NAME
    remotezoo models requirements NAME [--install | --ensure] [--error-level N] | list-downloaded
    remotezoo lock [-o FILE] [-s SPEC]... [MODEL...] | sync [FILE] [--trust]
    remotezoo cache du | verify [--delete] | gc [--apply]
    remotezoo doctor
    remotezoo export -o BUNDLE [-s SPEC]... [MODEL...] | import BUNDLE [--lock FILE] [--trust]

The verbs follow FiftyOne's ``fiftyone zoo models ...`` (with its short options).

Tables for people; ``--json`` (anywhere on the line) prints one JSON document on stdout for
scripts, everything else (logs, progress bars, errors) goes to stderr. Nothing printed carries
a credential or a raw control character: sources are shown redacted (``?token=REDACTED``) in
tables and JSON alike, and text from manifests and servers has its control characters escaped
(``\x1b``; JSON escapes them itself). An error is one line on
stderr, ``remotezoo: error: ...``, and the exit code says what kind: 1 a failure, 2 a usage
error, 130 interrupted (Ctrl-C). ``-v`` logs what happens, ``-vv`` also shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional

from . import (
    RemoteZooError,
    SourceError,
    __version__,
    _core,
    _progressbar,
    _requirements,
    library_versions,
    zoo,
)
from ._cache import human_size, model_bytes
from ._home import home
from ._log import shown

if TYPE_CHECKING:
    from ._core import _ModelInfo

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

logger = logging.getLogger("remotezoo")


class UsageError(Exception):
    """A command line that does not parse; the message names the command."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (raised, so main() reports them)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _VersionAction(argparse.Action):
    """``--version``: print the versions unwrapped (argparse's own action re-flows the text)."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str = argparse.SUPPRESS,
        default: Any = argparse.SUPPRESS,
        help: Optional[str] = None,
    ) -> None:  # noqa: A002
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: Optional[str] = None,
    ) -> None:
        print(_version())
        parser.exit()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _table(rows: list[list[str]], headers: list[str]) -> str:
    rows = [[shown(c) for c in r] for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _redacted(source: Optional[str]) -> Optional[str]:
    """A source (spec or identity) as the CLI prints it, in tables and JSON: an archive URL's
    query values are tokens (``?token=REDACTED``)."""
    return None if source is None else _core.redact(source)


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        printed = text()
        if printed:  # an empty --names-only list prints nothing, not a blank line
            print(printed)


# ---- sources ----------------------------------------------------------------------------


def _sources_list(args: argparse.Namespace) -> None:
    info = zoo.zoo_model_sources_info()
    for s in info:
        s["models"] = len(zoo.list_zoo_models(source=s["identity"]))
        s["identity"], s["spec"] = _redacted(s["identity"]), _redacted(s["spec"])
    for s in info:
        del s["tree"]  # a path of this machine: not what a listing of sources is about
    rows = [
        [
            s["identity"],
            s["kind"],
            s["ref"] or "",
            (s["sha"] or s["archive_sha256"] or "")[:12],
            str(s["models"]),
            s["registered_at"],
            "yes" if s["trusted"] else "",
        ]
        for s in info
    ]
    _emit(
        args,
        info,
        lambda: (
            _table(rows, ["source", "kind", "ref", "commit", "models", "registered", "trusted"])
            if rows
            else "No sources registered. Add one with: remotezoo sources register SPEC"
        ),
    )


def _sources_register(args: argparse.Namespace) -> None:
    try:
        zoo.register_zoo_model_source(args.spec, overwrite=args.overwrite)
    except RemoteZooError as err:
        relative = "://" not in args.spec and not args.spec.startswith((".", "/", "~"))
        if relative and os.path.isdir(args.spec):  # "dir/sub" reads as GitHub's user/repo
            raise type(err)(f"{err}; to register the local directory, write ./{args.spec}") from err
        raise
    identity = _core.source_identity(args.spec)
    names = zoo.list_zoo_models(source=identity)
    identity = _core.redact(identity)
    _emit(
        args,
        {"source": identity, "models": names},
        lambda: (
            f"Registered {shown(identity)} ({len(names)} model{'' if len(names) == 1 else 's'})"
            + "".join(f"\n  {shown(n)}" for n in names)
        ),
    )


def _sources_delete(args: argparse.Namespace) -> None:
    identity = _redacted(_core.source_identity(args.spec))
    zoo.delete_zoo_model_source(args.spec)
    _emit(
        args,
        {"deleted": identity},
        lambda: f"Deleted source {shown(identity)} and its downloaded models",
    )


def _sources_trust(args: argparse.Namespace) -> None:
    content = zoo.trust_zoo_model_source(args.spec, at=args.at)
    identity = _redacted(_core.source_identity(args.spec))
    _emit(
        args,
        {"trusted": identity, "content": content},
        lambda: f"Trusted {shown(identity)} at {shown(content)}",
    )


def _sources_untrust(args: argparse.Namespace) -> None:
    dropped = zoo.untrust_zoo_model_source(args.spec, at=args.at)
    identity = _redacted(_core.source_identity(args.spec))
    _emit(
        args,
        {"untrusted": identity, "dropped": dropped},
        lambda: (
            f"Dropped {dropped} trust decision{'' if dropped == 1 else 's'} for {shown(identity)}"
        ),
    )


# ---- models -----------------------------------------------------------------------------


def _model_dict(model: Any, downloaded: bool, path: Optional[str]) -> dict[str, Any]:
    return {
        "name": model.name,
        "source": _redacted(model.zoo_source),
        "downloaded": downloaded,
        "model_path": path,
        "manifest": model.manifest,
    }


def _models_list(args: argparse.Namespace) -> None:
    registered = zoo.list_zoo_model_sources()
    sources = [args.source] if args.source else registered
    if args.source and _core.source_identity(args.source) not in registered:
        raise SourceError(
            f"source {shown(_core.source_identity(args.source))} is not registered; "
            "'remotezoo sources list' shows those that are"
        )
    downloaded = {(m.zoo_source, name) for name, (_, m) in zoo.list_downloaded_zoo_models().items()}
    entries: list[dict[str, Any]] = []
    for source in sources:
        identity = _core.source_identity(source)
        for name in zoo.list_zoo_models(
            tags=_csv(args.tags), source=source, license=_csv(args.license)
        ):
            model = zoo.get_zoo_model(name, source=identity)
            entries.append(
                {
                    "name": name,
                    "source": _redacted(identity),
                    "version": model.version,
                    "tags": model.tags,
                    "license": model.license,
                    "downloaded": (identity, name) in downloaded,
                }
            )
    if args.downloaded_only:
        entries = [e for e in entries if e["downloaded"]]
    entries.sort(key=lambda e: (e["name"], e["source"]))
    if args.names_only:
        names = [e["name"] for e in entries]
        _emit(args, names, lambda: "\n".join(shown(n) for n in names))
        return
    several = len({e["source"] for e in entries}) > 1
    rows = [
        [
            e["name"],
            "yes" if e["downloaded"] else "",
            ",".join(e["tags"] or []),
            e["license"] or "",
            *([e["source"]] if several else []),
        ]
        for e in entries
    ]
    headers = ["model", "downloaded", "tags", "license", *(["source"] if several else [])]
    _emit(args, entries, lambda: _table(rows, headers) if rows else "No models.")


def _resolve(args: argparse.Namespace) -> _ModelInfo:
    return _core.resolve_model(home(), args.name, args.source)


def _models_info(args: argparse.Namespace) -> None:
    info = _resolve(args)
    model = zoo.get_zoo_model(info["name"], source=info["source"])
    downloaded = zoo.is_zoo_model_downloaded(model.name, source=model.zoo_source)
    data = _model_dict(model, downloaded, info["model_path"])

    def text() -> str:
        lines = [f"{'name':>14}: {shown(model.name)}", f"{'source':>14}: {shown(model.zoo_source)}"]
        for key, value in model.manifest.items():
            if key == "base_name":
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            lines.append(f"{shown(key):>14}: {shown(text)}")
        lines.append(f"{'downloaded':>14}: {shown(info['model_path']) if downloaded else 'no'}")
        return "\n".join(lines)

    _emit(args, data, text)


def _models_download(args: argparse.Namespace) -> None:
    # NAME is a model name, never a source spec (download_zoo_model would take "user/repo" as
    # one): with --source, that source is registered first if needed, as FiftyOne's
    # load_zoo_model(spec, model_name) does; without, the model must be known already.
    source = args.source if args.source else _resolve(args)["source"]
    before = _downloaded_paths()
    model, path = zoo.download_zoo_model(
        source, model_name=args.name, overwrite=args.overwrite, trust=args.policy
    )
    fresh = args.overwrite or path not in before
    _emit(
        args,
        {
            "name": model.name,
            "source": _redacted(model.zoo_source),
            "model_path": path,
            "downloaded_now": fresh,
        },
        lambda: (
            f"Downloaded {shown(model.name)} to {shown(path)}"
            if fresh
            else f"{shown(model.name)} is already downloaded: {shown(path)}"
        ),
    )


def _downloaded_paths() -> set[str]:
    return {info["model_path"] for info in _core.list_downloaded(home())}


def _models_delete(args: argparse.Namespace) -> None:
    info = _resolve(args)
    was = zoo.is_zoo_model_downloaded(info["name"], source=info["source"])
    zoo.delete_zoo_model(info["name"], source=info["source"])
    _emit(
        args,
        {"name": info["name"], "source": _redacted(info["source"]), "deleted": was},
        lambda: (
            f"Deleted model {shown(info['name'])}"
            if was
            else f"Model {shown(info['name'])} is not downloaded; nothing to delete"
        ),
    )


def _models_requirements(args: argparse.Namespace) -> None:
    info = _resolve(args)
    name, source = info["name"], info["source"]
    model = zoo.get_zoo_model(name, source=source)
    if args.install:
        zoo.install_zoo_model_requirements(
            name, error_level=args.error_level, source=source, trust=args.policy
        )
    ok = zoo.ensure_zoo_model_requirements(
        name,
        error_level=args.error_level if args.ensure else 2,
        log_success=False,
        source=source,
        trust=args.policy,
    )
    reqs = _requirements.requirements_summary(model.requirements, info["source_dir"], name)
    _emit(
        args,
        {"name": name, "source": _redacted(source), "requirements": reqs, "satisfied": ok},
        lambda: "\n".join(
            [
                *(f"  {shown(r)}" for r in reqs or ["(no requirements)"]),
                f"satisfied: {'yes' if ok else 'no (install them with --install)'}",
            ]
        ),
    )


# ---- lock files, caches, bundles ---------------------------------------------------------------


def _lock(args: argparse.Namespace) -> None:
    output = None if args.output == "-" else args.output
    from . import _lockfile

    lock = zoo.lock_zoo(output, sources=args.source or None, models=args.models or None)
    text = _lockfile.dumps(lock)
    if output is None:
        sys.stdout.write(text)
        return
    count = sum(len(s.models) for s in lock.sources)
    _emit(
        args,
        {"lock_file": os.path.abspath(output), "sources": len(lock.sources), "models": count},
        lambda: (
            f"Locked {len(lock.sources)} source{'' if len(lock.sources) == 1 else 's'} and {count} "
            f"model{'' if count == 1 else 's'} in {shown(output)}"
        ),
    )


def _sync(args: argparse.Namespace) -> None:
    done = zoo.sync_zoo(
        args.lockfile, trust_locked=args.trust, trust=args.policy, models=not args.no_models
    )
    _emit_actions(args, done, "The lock file is empty.")


def _emit_actions(args: argparse.Namespace, done: Sequence[Any], empty: str) -> None:
    """What a sync or an import did, one line a source or model."""
    data = [{"what": d.what, "name": _redacted(d.name), "action": d.action} for d in done]
    _emit(
        args,
        data,
        lambda: (
            "\n".join(f"{d['action']:>10}  {d['what']}  {shown(d['name'])}" for d in data) or empty
        ),
    )


def _cache_du(args: argparse.Namespace) -> None:
    usage = zoo.zoo_cache_usage()

    def text() -> str:
        rows: list[list[str]] = []
        for s in usage.sources:
            rows.append(
                [
                    s.identity,
                    "(source)" if s.kind != "local" else "(local source)",
                    human_size(s.tree_bytes),
                ]
            )
            rows += [["", m.name, human_size(m.bytes)] for m in s.models]
        rows.append(
            ["(other: registry, locks, trash, temporaries)", "", human_size(usage.other_bytes)]
        )
        return (
            _table(rows, ["source", "model", "size"]) + f"\n\n{human_size(usage.total_bytes)} in "
            f"{shown(usage.home)} ('remotezoo cache gc' shows what is garbage)"
        )

    _emit(args, usage.to_dict(), text)


def _cache_verify(args: argparse.Namespace) -> None:
    verdicts = zoo.verify_zoo_cache(delete=args.delete)
    bad = [v for v in verdicts if v.status not in ("ok", "unrecorded")]

    def text() -> str:
        rows = [[v.status, v.what, v.name, v.detail] for v in verdicts]
        summary = (
            f"{len(verdicts) - len(bad)} of {len(verdicts)} intact"
            if verdicts
            else "Nothing downloaded."
        )
        if bad and not args.delete:
            summary += (
                "; 'remotezoo cache verify --delete' deletes the corrupt models "
                "(they download again)"
            )
        return (
            (_table(rows, ["status", "what", "name", "detail"]) + "\n\n" + summary)
            if rows
            else summary
        )

    _emit(args, [v.to_dict() for v in verdicts], text)
    if bad:
        raise _Findings(f"{len(bad)} corrupt or unreadable")


def _cache_gc(args: argparse.Namespace) -> None:
    found = zoo.gc_zoo_cache(apply=args.apply)

    def text() -> str:
        if not found:
            return "No garbage."
        rows = [[g.state, g.kind, human_size(g.bytes), g.path] for g in found]
        freed = sum(g.bytes for g in found if g.state in ("garbage", "removed"))
        verb = "freed" if args.apply else "would free ('remotezoo cache gc --apply' removes it)"
        return _table(rows, ["state", "kind", "size", "path"]) + f"\n\n{human_size(freed)} {verb}"

    _emit(args, [g.to_dict() for g in found], text)


def _doctor(args: argparse.Namespace) -> None:
    checks = zoo.zoo_doctor()
    _emit(
        args,
        [c.to_dict() for c in checks],
        lambda: "\n".join(
            f"{'OK ' if c.ok else 'FIX'}  {c.name:<9} {shown(c.message)}" for c in checks
        ),
    )
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise _Findings(
            f"{len(failed)} check{'' if len(failed) == 1 else 's'} "
            f"need{'s' if len(failed) == 1 else ''} "
            f"fixing: {', '.join(failed)}"
        )


def _export(args: argparse.Namespace) -> None:
    path = zoo.export_zoo(args.output, models=args.models or None, sources=args.source or None)
    _emit(
        args,
        {"bundle": path, "bytes": os.path.getsize(path)},
        lambda: f"Wrote {shown(path)} ({human_size(os.path.getsize(path))})",
    )


def _import(args: argparse.Namespace) -> None:
    _emit_actions(
        args, zoo.import_zoo(args.bundle, lock=args.lock, trust=args.trust), "The bundle is empty."
    )


class _Findings(Exception):
    """A command that ran but found what needs attention (corrupt models, a doctor check): exit
    code 1, after its report."""


def _models_list_downloaded(args: argparse.Namespace) -> None:
    models = zoo.list_downloaded_zoo_models()
    data: list[dict[str, Any]] = [
        {
            "name": name,
            "source": _redacted(model.zoo_source),
            "model_path": path,
            "size_bytes": model_bytes(path),
        }
        for name, (path, model) in sorted(models.items())
    ]
    rows = [[d["name"], human_size(d["size_bytes"]), d["model_path"]] for d in data]
    _emit(
        args,
        data,
        lambda: _table(rows, ["model", "size", "path"]) if rows else "No models downloaded.",
    )


# ---- parser -----------------------------------------------------------------------------


def _version() -> str:
    libs = ", ".join(f"{k} {v}" for k, v in library_versions().items())
    return f"remotezoo {__version__} ({libs}; Python {sys.version.split()[0]})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``remotezoo`` command."""
    parser = _Parser(
        prog="remotezoo",
        description="Remotely-sourced model zoos: register sources, "
        "list, download and delete their models.",
        epilog="Run 'remotezoo COMMAND --help' for a command's options. Progress bars are "
        "shown on a terminal unless REMOTEZOO_NO_PROGRESS=1; files live in $REMOTEZOO_HOME.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="show the versions of remotezoo and its C libraries, and exit",
    )
    # The global options are accepted before and after the command: the sub-level copies use
    # SUPPRESS so an absent one does not overwrite what was given at the top.
    common = _Parser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout, for scripts",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log what happens on stderr (-vv: debug, with tracebacks)",
    )
    parser.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log what happens on stderr (-vv: debug, with tracebacks)",
    )

    groups = parser.add_subparsers(
        dest="group", required=True, metavar="{sources,models,lock,sync,cache,doctor,export,import}"
    )
    policy = _Parser(add_help=False)
    policy.add_argument(
        "--trust-policy",
        dest="policy",
        choices=("warn", "prompt", "strict"),
        default=None,
        help="what to do with code of a source not trusted at what is registered "
        "(default $REMOTEZOO_TRUST, else warn)",
    )

    sources = groups.add_parser(
        "sources",
        help="register, list and delete model sources",
        description="Model sources: GitHub repos or refs, archive URLs, local directories.",
    )
    verbs = sources.add_subparsers(
        dest="verb", required=True, metavar="{list,register,delete,trust,untrust}"
    )
    verbs.add_parser(
        "list",
        parents=[common],
        help="list registered sources",
        description="List the registered sources.",
    ).set_defaults(run=_sources_list)
    p = verbs.add_parser(
        "register",
        parents=[common],
        help="register a source",
        description="Register a source: https://github.com/USER/REPO[/tree/REF|/commit/SHA], "
        "USER/REPO[/REF], an archive URL (.zip, .tar[.gz|.bz2|.xz|.zst], .tgz) or a "
        "local directory. GITHUB_TOKEN is sent to the GitHub API when set.",
    )
    p.add_argument("spec", metavar="SPEC", help="the source spec")
    p.add_argument(
        "-o",
        "--overwrite",
        action="store_true",
        help="fetch it again (the old copy stays usable until then)",
    )
    p.set_defaults(run=_sources_register)
    p = verbs.add_parser(
        "delete",
        parents=[common],
        help="delete a source and its downloaded models",
        description="Unregister a source and delete its files and downloaded models.",
    )
    p.add_argument(
        "spec", metavar="SPEC", help="the source spec, as registered (any spelling of it)"
    )
    p.set_defaults(run=_sources_delete)
    p = verbs.add_parser(
        "trust",
        parents=[common],
        help="trust a source's code at what is registered",
        description="Trust the code of a registered source at its registered commit (GitHub), "
        "archive sha256, or (a local directory) whatever it holds, for this user. A branch "
        "force-pushed to other code is not trusted until trusted again. Matters under "
        "REMOTEZOO_TRUST=prompt and strict.",
    )
    p.add_argument("spec", metavar="SPEC", help="the source spec, as registered")
    p.add_argument(
        "--at",
        metavar="CONTENT",
        help="trust only if the source is registered at exactly this commit or archive sha256",
    )
    p.set_defaults(run=_sources_trust)
    p = verbs.add_parser(
        "untrust",
        parents=[common],
        help="drop the trust in a source",
        description="Drop this user's trust decisions for a source (only at CONTENT with --at).",
    )
    p.add_argument("spec", metavar="SPEC", help="the source spec")
    p.add_argument(
        "--at", metavar="CONTENT", help="only the decision at this commit or archive sha256"
    )
    p.set_defaults(run=_sources_untrust)

    models = groups.add_parser(
        "models",
        help="list, inspect, download and delete models",
        description="Models of the registered sources.",
    )
    verbs = models.add_subparsers(
        dest="verb",
        required=True,
        metavar="{list,info,download,delete,requirements,list-downloaded}",
    )
    p = verbs.add_parser(
        "list",
        parents=[common],
        help="list available models",
        description="List the models of the registered sources.",
    )
    p.add_argument(
        "-t", "--tags", metavar="T[,T..]", help="comma-separated tags that must all match"
    )
    p.add_argument("-s", "--source", metavar="SPEC", help="only this source's models")
    p.add_argument(
        "-l", "--license", metavar="L[,L..]", help="comma-separated licenses, any of which matches"
    )
    p.add_argument(
        "-d", "--downloaded-only", action="store_true", help="only the downloaded models"
    )
    p.add_argument(
        "-n", "--names-only", action="store_true", help="only the model names, one a line"
    )
    p.set_defaults(run=_models_list)
    name_help = "base_name (latest version) or base_name@version"
    for verb, run, short, long in (
        (
            "info",
            _models_info,
            "show a model's manifest entry",
            "Show a model's manifest entry and whether it is downloaded.",
        ),
        (
            "download",
            _models_download,
            "download a model",
            "Download a model unless it is downloaded (the source's download_model() or its "
            "manager URL).",
        ),
        (
            "delete",
            _models_delete,
            "delete a downloaded model",
            "Delete the downloaded files of a model.",
        ),
        (
            "requirements",
            _models_requirements,
            "show, check or install a model's requirements",
            "Show the packages a model requires here; --ensure fails unless they are installed, "
            "--install installs them with pip.",
        ),
    ):
        p = verbs.add_parser(
            verb,
            parents=[common, policy] if verb in ("download", "requirements") else [common],
            help=short,
            description=long,
        )
        p.add_argument("name", metavar="NAME", help=name_help)
        p.add_argument(
            "-s",
            "--source",
            metavar="SPEC",
            help="take the model from this source"
            + (" (registered first if needed)" if verb == "download" else ""),
        )
        if verb == "download":
            p.add_argument("-o", "--overwrite", action="store_true", help="download it again")
        if verb == "requirements":
            mode = p.add_mutually_exclusive_group()
            mode.add_argument("-i", "--install", action="store_true", help="install them with pip")
            mode.add_argument(
                "-e",
                "--ensure",
                action="store_true",
                help="exit with an error unless they are satisfied",
            )
            p.add_argument(
                "--error-level",
                type=int,
                choices=(0, 1, 2),
                default=0,
                help="with --install or --ensure: 0 fail (default), 1 warn, 2 ignore",
            )
        p.set_defaults(run=run)
    verbs.add_parser(
        "list-downloaded",
        parents=[common],
        help="list downloaded models",
        description="List the downloaded models, their size and path.",
    ).set_defaults(run=_models_list_downloaded)

    p = groups.add_parser(
        "lock",
        parents=[common],
        help="write a lock file of the sources and downloaded models",
        description="Write a lock file: each registered source's identity, spec, commit or "
        "archive sha256 and tree digest, and each downloaded model's name@version, size and "
        "sha256. 'remotezoo sync' makes another machine match it; REMOTEZOO_LOCKFILE=FILE "
        "refuses anything that differs from it (frozen mode).",
    )
    p.add_argument(
        "-o",
        "--output",
        default=zoo.DEFAULT_LOCK_FILE,
        metavar="FILE",
        help=f"where to write it ('-': stdout; default {zoo.DEFAULT_LOCK_FILE})",
    )
    p.add_argument(
        "-s", "--source", action="append", metavar="SPEC", help="only this source (repeatable)"
    )
    p.add_argument("models", nargs="*", metavar="MODEL", help="only these downloaded models")
    p.set_defaults(run=_lock)
    p = groups.add_parser(
        "sync",
        parents=[common, policy],
        help="make this machine match a lock file",
        description="Register each source of the lock file at exactly its commit or archive, "
        "download each model, and check every digest before anything is kept.",
    )
    p.add_argument(
        "lockfile",
        nargs="?",
        default=zoo.DEFAULT_LOCK_FILE,
        metavar="FILE",
        help=f"the lock file (default {zoo.DEFAULT_LOCK_FILE})",
    )
    p.add_argument(
        "--trust",
        action="store_true",
        help="trust the locked sources' code (their downloads run it)",
    )
    p.add_argument("--no-models", action="store_true", help="register the sources only")
    p.set_defaults(run=_sync)

    cache = groups.add_parser(
        "cache",
        help="inspect and repair the cache",
        description="The cache in $REMOTEZOO_HOME: sizes, integrity, garbage.",
    )
    verbs = cache.add_subparsers(dest="verb", required=True, metavar="{du,verify,gc}")
    verbs.add_parser(
        "du",
        parents=[common],
        help="sizes by source and model",
        description="Sizes on disk, by source and model.",
    ).set_defaults(run=_cache_du)
    p = verbs.add_parser(
        "verify",
        parents=[common],
        help="re-hash every downloaded model",
        description="Re-hash every downloaded model and fetched source tree against the digest "
        "recorded when it arrived; exit code 1 when something is corrupt.",
    )
    p.add_argument(
        "--delete", action="store_true", help="delete the corrupt models (they download again)"
    )
    p.set_defaults(run=_cache_verify)
    p = verbs.add_parser(
        "gc",
        parents=[common],
        help="find (and remove) garbage",
        description="List what no source, model or live process uses: temporaries of killed "
        "downloads and registrations, retired source trees, trash, lock files, models of deleted "
        "sources. A dry run unless --apply.",
    )
    p.add_argument(
        "--apply", action="store_true", help="remove it (what a live process uses is kept)"
    )
    p.set_defaults(run=_cache_gc)

    groups.add_parser(
        "doctor",
        parents=[common],
        help="check this machine's set-up",
        description="Check the home (writable, free space), the CA bundle, proxies, GITHUB_TOKEN "
        "and the API rate limit, the offline, trust and lock file settings, and library versions; "
        "exit code 1 when something needs fixing.",
    ).set_defaults(run=_doctor)
    p = groups.add_parser(
        "export",
        parents=[common],
        help="write sources and models into one archive",
        description="Write the registered sources, their downloaded models (or only MODEL...) and "
        "their lock file into one archive, for a machine without network ('remotezoo import').",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="BUNDLE",
        help="the archive: .tar.zst (or .tar.gz, .tar)",
    )
    p.add_argument(
        "-s", "--source", action="append", metavar="SPEC", help="only this source (repeatable)"
    )
    p.add_argument("models", nargs="*", metavar="MODEL", help="only these downloaded models")
    p.set_defaults(run=_export)
    p = groups.add_parser(
        "import",
        parents=[common],
        help="install an exported archive, with no network",
        description="Register the sources and place the models of an archive 'remotezoo export' "
        "wrote, checking every digest before anything is registered. Needs no network.",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the archive")
    p.add_argument(
        "--lock", metavar="FILE", help="also check it against this lock file (one you trust)"
    )
    p.add_argument(
        "--trust",
        action="store_true",
        help="trust the imported sources' code at what the bundle holds",
    )
    p.set_defaults(run=_import)
    return parser


def _configure_logging(verbosity: int) -> Callable[[], None]:
    """Send the ``remotezoo`` logger to stderr at the level -v asks for; return what undoes it
    (main() may run inside a larger program, or a test)."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("remotezoo: %(message)s"))
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False

    def restore() -> None:
        logger.handlers[:], level_, logger.propagate = saved[0], saved[1], saved[2]
        logger.setLevel(level_)

    return restore


class _Formatter(logging.Formatter):
    """Log lines as :func:`shown` shows text: no token, no control character."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return shown(super().formatMessage(record))


def _fail(message: str, code: int) -> int:
    try:
        sys.stderr.write(f"remotezoo: error: {shown(_one_line(message))}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``); return the exit code."""
    verbosity = 0
    restore_logging: Optional[Callable[[], None]] = None
    try:
        args = build_parser().parse_args(argv)
        verbosity = args.verbose or 0
        restore_logging = _configure_logging(verbosity)
        _progressbar.enable_download_file_bars(True)
        args.run(args)
        sys.stdout.flush()
    except UsageError as err:
        return _fail(str(err), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except _Findings as found:
        sys.stdout.flush()
        return _fail(str(found), EXIT_FAILURE)
    except BrokenPipeError:
        # The reader went away (remotezoo ... | head): stop quietly, as Unix tools do.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILURE
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else EXIT_FAILURE
    except (RemoteZooError, ValueError, OSError) as err:
        if verbosity >= 2:
            traceback.print_exc()
        return _fail(str(err) or type(err).__name__, EXIT_FAILURE)
    except Exception as err:  # noqa: BLE001 - the CLI's promise is one line, never a traceback
        if verbosity >= 2:
            traceback.print_exc()
        return _fail(
            f"unexpected {type(err).__name__}: {err} (run with -vv for the traceback)", EXIT_FAILURE
        )
    finally:
        _progressbar.enable_download_file_bars(False)
        if restore_logging is not None:
            restore_logging()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
