"""The remotezoo command line: ``remotezoo`` or ``python -m remotezoo``.

    remotezoo sources list | register SPEC [--overwrite] | delete SPEC
    remotezoo models list [-t TAGS] [-s SPEC] [-l LICENSES] [-d] [-n]
    remotezoo models info NAME | download NAME [--overwrite] | delete NAME
    remotezoo models requirements NAME [--install | --ensure] [--error-level N] | list-downloaded

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


def _size(n: Optional[int]) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # unreachable


def _disk_usage(path: str) -> int:
    if not os.path.isdir(path):
        return os.path.getsize(path) if os.path.exists(path) else 0
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


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
    rows = [
        [
            s["identity"],
            s["kind"],
            s["ref"] or "",
            (s["sha"] or "")[:12],
            str(s["models"]),
            s["registered_at"],
        ]
        for s in info
    ]
    _emit(
        args,
        info,
        lambda: (
            _table(rows, ["source", "kind", "ref", "commit", "models", "registered"])
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
    model, path = zoo.download_zoo_model(source, model_name=args.name, overwrite=args.overwrite)
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
        zoo.install_zoo_model_requirements(name, error_level=args.error_level, source=source)
    ok = zoo.ensure_zoo_model_requirements(
        name, error_level=args.error_level if args.ensure else 2, log_success=False, source=source
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


def _models_list_downloaded(args: argparse.Namespace) -> None:
    models = zoo.list_downloaded_zoo_models()
    data: list[dict[str, Any]] = [
        {
            "name": name,
            "source": _redacted(model.zoo_source),
            "model_path": path,
            "size_bytes": _disk_usage(path),
        }
        for name, (path, model) in sorted(models.items())
    ]
    rows = [[d["name"], _size(d["size_bytes"]), d["model_path"]] for d in data]
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

    groups = parser.add_subparsers(dest="group", required=True, metavar="{sources,models}")

    sources = groups.add_parser(
        "sources",
        help="register, list and delete model sources",
        description="Model sources: GitHub repos or refs, archive URLs, local directories.",
    )
    verbs = sources.add_subparsers(dest="verb", required=True, metavar="{list,register,delete}")
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
        p = verbs.add_parser(verb, parents=[common], help=short, description=long)
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
