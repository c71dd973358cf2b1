"""The remotezoo command line: ``remotezoo`` or ``python -m remotezoo``.

    remotezoo sources list | register SPEC [--overwrite] | delete SPEC
    remotezoo models list [--tags T,..] [--source SPEC] [--license L,..]
    remotezoo models info NAME | download NAME [--overwrite] | delete NAME
    remotezoo models requirements NAME [--install | --ensure] | list-downloaded

Tables for people, ``--json`` for scripts; errors are one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Callable, Optional, Sequence

from . import RemoteZooError, __version__, library_versions, zoo
from . import _requirements


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text())


def _sources_list(args: argparse.Namespace) -> None:
    info = zoo.zoo_model_sources_info()
    rows = [[s["identity"], s["kind"], (s["sha"] or "")[:12], s["registered_at"]] for s in info]
    _emit(args, info, lambda: _table(rows, ["source", "kind", "commit", "registered"]) if rows else "No sources registered.")


def _sources_register(args: argparse.Namespace) -> None:
    zoo.register_zoo_model_source(args.spec, overwrite=args.overwrite)
    names = zoo.list_zoo_models(source=args.spec)
    _emit(args, {"source": args.spec, "models": names}, lambda: f"Registered {args.spec} ({len(names)} models)")


def _sources_delete(args: argparse.Namespace) -> None:
    zoo.delete_zoo_model_source(args.spec)
    _emit(args, {"deleted": args.spec}, lambda: f"Deleted source {args.spec}")


def _models_list(args: argparse.Namespace) -> None:
    names = zoo.list_zoo_models(tags=_csv(args.tags), source=args.source, license=_csv(args.license))
    downloaded = zoo.list_downloaded_zoo_models()
    rows = [[n, "yes" if n in downloaded else ""] for n in names]
    _emit(args, names, lambda: _table(rows, ["model", "downloaded"]) if rows else "No models.")


def _model_dict(model: Any) -> dict[str, Any]:
    return {"name": model.name, "source": model.zoo_source, **model.manifest}


def _models_info(args: argparse.Namespace) -> None:
    model = zoo.get_zoo_model(args.name, source=args.source)
    data = _model_dict(model)
    data["downloaded"] = zoo.is_zoo_model_downloaded(model.name, source=model.zoo_source)
    _emit(args, data, lambda: "\n".join(f"{k:>14}: {v}" for k, v in data.items()))


def _models_download(args: argparse.Namespace) -> None:
    model, path = zoo.download_zoo_model(args.name, overwrite=args.overwrite) if not args.source else \
        zoo.download_zoo_model(args.source, model_name=args.name, overwrite=args.overwrite)
    _emit(args, {"name": model.name, "path": path}, lambda: f"{model.name}: {path}")


def _models_delete(args: argparse.Namespace) -> None:
    zoo.delete_zoo_model(args.name, source=args.source)
    _emit(args, {"deleted": args.name}, lambda: f"Deleted model {args.name}")


def _models_requirements(args: argparse.Namespace) -> None:
    model = zoo.get_zoo_model(args.name, source=args.source)
    if args.install:
        zoo.install_zoo_model_requirements(model.name, error_level=0, source=model.zoo_source)
    ok = zoo.ensure_zoo_model_requirements(model.name, error_level=0 if args.ensure else 2,
                                           log_success=False, source=model.zoo_source)
    reqs = _requirements.requirements_summary(model.requirements, None)
    _emit(args, {"name": model.name, "requirements": reqs, "satisfied": ok},
          lambda: "\n".join([*(reqs or ["(no requirements)"]), f"satisfied: {'yes' if ok else 'no'}"]))


def _models_list_downloaded(args: argparse.Namespace) -> None:
    models = zoo.list_downloaded_zoo_models()
    data = {name: path for name, (path, _) in sorted(models.items())}
    _emit(args, data, lambda: _table([[n, p] for n, p in data.items()], ["model", "path"]) if data else "No models downloaded.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="remotezoo", description="Remotely-sourced model zoos.")
    parser.add_argument("--version", action="version",
                        version=f"remotezoo {__version__} ({', '.join(f'{k} {v}' for k, v in library_versions().items())})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    groups = parser.add_subparsers(dest="group", required=True, metavar="{sources,models}")

    sources = groups.add_parser("sources", help="register, list and delete model sources")
    verbs = sources.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", parents=[common], help="list registered sources").set_defaults(run=_sources_list)
    p = verbs.add_parser("register", parents=[common], help="register a source (GitHub repo/ref, archive URL or directory)")
    p.add_argument("spec")
    p.add_argument("--overwrite", action="store_true", help="fetch it again")
    p.set_defaults(run=_sources_register)
    p = verbs.add_parser("delete", parents=[common], help="delete a source and its downloaded models")
    p.add_argument("spec")
    p.set_defaults(run=_sources_delete)

    models = groups.add_parser("models", help="list, download and delete models")
    verbs = models.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("list", parents=[common], help="list available models")
    p.add_argument("--tags", help="comma-separated tags that must all match")
    p.add_argument("--source", help="only this source's models")
    p.add_argument("--license", help="comma-separated licenses, any of which matches")
    p.set_defaults(run=_models_list)
    for verb, run, text in (("info", _models_info, "show a model's manifest entry"),
                            ("download", _models_download, "download a model"),
                            ("delete", _models_delete, "delete a downloaded model"),
                            ("requirements", _models_requirements, "show, check or install a model's requirements")):
        p = verbs.add_parser(verb, parents=[common], help=text)
        p.add_argument("name", help="model name, base_name or base_name@version")
        p.add_argument("--source", help="the source to take it from")
        if verb == "download":
            p.add_argument("--overwrite", action="store_true", help="download again")
        if verb == "requirements":
            mode = p.add_mutually_exclusive_group()
            mode.add_argument("--install", action="store_true", help="install them with pip")
            mode.add_argument("--ensure", action="store_true", help="fail unless they are satisfied")
        p.set_defaults(run=run)
    verbs.add_parser("list-downloaded", parents=[common], help="list downloaded models").set_defaults(run=_models_list_downloaded)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        args.run(args)
    except (RemoteZooError, ValueError, OSError) as err:
        print(f"remotezoo: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("remotezoo: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
