"""Model package requirements: check them against installed distributions, install with pip.

A model's manifest entry may declare ``requirements`` as FiftyOne (eta's ``ModelRequirements``)
does::

    {"packages": [...] | "a,b" | "path/to/requirements.txt"
                 | {"entrypoint_fcn": "package.module.fcn", "entrypoint_args": {...}},
     "cpu": {"support": bool, "packages": ...},
     "gpu": {"support": bool, "packages": ...}}

Every key may be absent (JSON null is absent). A requirements file is read only inside the
model's source directory (after resolving symbolic links): a manifest naming any other file
is an error. An entrypoint names a function returning any of the other forms; as eta does, it
is imported and called when the requirements are checked (error_level 0 or 1) or installed,
never when they are only listed. Each requirement is a PEP 508 string (``torch>=1.8``,
``pkg[extra]>=1``, ``name @ url``, with an optional ``; marker``), or alternatives ``a|b`` of
which one suffices.
The packages of the current device (see :func:`current_device`) are added to the base packages.

Deliberate simplifications, checked against what pip would do:

- Installed distributions are found with :mod:`importlib.metadata`, names compared as PEP 503
  normalises them; nothing is imported. Extras are accepted but not checked (the extra's own
  dependencies are not looked up). ``name @ url`` is satisfied by any installed version.
- Versions follow PEP 440 (epoch, release, pre, post, dev, local; the usual spellings such as
  ``1.0-alpha.1``, ``1.0-1`` or a leading ``v`` are normalised). Installed pre-releases satisfy
  a specifier like any other version (as ``pkg_resources`` did). An installed version that is
  not PEP 440 satisfies only a bare name or ``===``.
- Environment markers are respected: a requirement whose marker is false for this interpreter
  is dropped (``extra`` is the empty string). Marker comparisons use PEP 440 when both sides are
  versions and plain string comparison otherwise.
- A requirements file may hold requirement lines, ``#`` comments, blank lines and ``\\``
  continuations; pip options (``-r``, ``-e``, ``--index-url``, ...) are refused.

Every problem — an unmet or malformed requirement, an unreadable requirements file, an
unsupported device, a failed install — is handled by ``error_level``: 0 raises
:class:`RequirementsError`, 1 logs a warning on the ``remotezoo`` logger, 2 ignores it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from packaging.markers import (
    Marker,
    UndefinedComparison,
    UndefinedEnvironmentName,
    default_environment,
)
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as _Requirement
from packaging.specifiers import Specifier as _Specifier
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ._core import RequirementsError
from ._log import logger

if TYPE_CHECKING:
    from ._model import ModelRequirements


ERROR_LEVEL_ENV = "REMOTEZOO_REQUIREMENT_ERROR_LEVEL"
DEVICE_ENV = "REMOTEZOO_DEVICE"
PIP_ENV = "REMOTEZOO_PIP"

# A manifest's requirements object, or a model's ModelRequirements; None means none.
Requirements = Union[Mapping[str, Any], "ModelRequirements", None]

_MAX_REQUIREMENTS_FILE = 1 << 20  # bytes; a requirements file is a few lines
_STDERR_TAIL_LINES = 3

__all__ = [
    "Requirement",
    "Specifier",
    "Version",
    "current_device",
    "ensure_requirements",
    "install_requirements",
    "requirements_summary",
    "resolve_error_level",
]


# --------------------------------------------------------------------------------------------
# Versions, specifiers and markers: PEP 440 and PEP 508 as pip reads them (``packaging``)


class Specifier:
    """One PEP 440 version clause (``>=1.0``, ``==1.2.*``, ``~=2.2``, ``===text``).

    ``contains`` is :class:`packaging.specifiers.Specifier`'s with two decisions of remotezoo:
    an installed pre-release satisfies a clause like any other version (as ``pkg_resources``
    did), and an installed version that is not PEP 440 satisfies only ``===`` (compared as
    text, ignoring case). Raises :class:`ValueError` when the clause is malformed.
    """

    __slots__ = ("_spec",)

    def __init__(self, text: str) -> None:
        self._spec = _Specifier(text.strip())

    def __str__(self) -> str:
        return str(self._spec)

    def __repr__(self) -> str:
        return f"Specifier({str(self)!r})"

    def contains(self, version: Union[str, Version]) -> bool:
        """Whether *version* (a :class:`Version` or its text) satisfies the clause."""
        if self._spec.operator == "===":  # arbitrary equality: the text as installed
            return self._spec.version.lower() == str(version).strip().lower()
        if isinstance(version, str):
            try:
                version = Version(version)
            except InvalidVersion:
                return False
        return self._spec.contains(version, prereleases=True)


def _marker_environment() -> dict[str, str]:
    env = {key: str(value) for key, value in default_environment().items()}
    env["extra"] = ""
    return env


def evaluate_marker(marker: str, environment: Optional[dict[str, str]] = None) -> bool:
    """Whether the PEP 508 *marker* holds in *environment* (default: this interpreter's, with
    ``extra`` the empty string). Raises :class:`ValueError` for a malformed marker."""
    try:
        return Marker(marker).evaluate({**_marker_environment(), **(environment or {})})
    except (UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise ValueError(f"marker {marker!r}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Requirements (PEP 508, the parts that matter here)

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REQUIREMENT_RE = re.compile(
    rf"^\s*(?P<name>{_NAME})\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<rest>.*)$", re.DOTALL
)


def normalize_name(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Foo_Bar.baz`` → ``foo-bar-baz``)."""
    return canonicalize_name(name)


class Requirement:
    """One parsed requirement: ``name[extras] specifiers ; marker`` or ``name @ url``.

    ``text`` is the requirement as written, without its marker and with runs of white space
    made one space (what pip is given).
    Raises :class:`ValueError` when the text is malformed.
    """

    __slots__ = ("text", "name", "extras", "specifiers", "url", "marker")

    def __init__(self, text: str) -> None:
        try:
            parsed = _Requirement(text.strip())  # PEP 508, as pip reads it
        except InvalidRequirement as exc:
            raise ValueError(f"{text.strip()!r}: {exc}") from exc
        body = text.strip()
        url_form = parsed.url is not None
        # The text before the marker, as written (a URL may hold ';': its marker follows
        # whitespace, PEP 508), for messages and for pip.
        split = re.search(r"\s;" if url_form else ";", body)
        if split:
            body = body[: split.start()].strip()
        self.text = " ".join(body.split())
        self.name = parsed.name
        self.marker = text.strip()[split.end() :].strip() if split else None
        self.url: Optional[str] = parsed.url
        self.extras, clauses = _as_written(body)
        self.specifiers: tuple[Specifier, ...] = (
            tuple(Specifier(clause) for clause in clauses.split(","))
            if clauses and not url_form
            else ()
        )

    def __repr__(self) -> str:
        return f"Requirement({self.text!r})"

    def applies(self) -> bool:
        """Whether the marker (if any) is true for this interpreter."""
        return self.marker is None or evaluate_marker(self.marker)

    def unmet_reason(self) -> Optional[str]:
        """``None`` when an installed distribution satisfies this requirement, else why not."""
        found = installed_version(self.name)
        if found is None:
            return (
                f"The requested operation requires that '{self.text}' is installed on your machine"
            )
        if all(spec.contains(found) for spec in self.specifiers):
            return None
        valid = _is_pep440(found)
        return (
            f"The requested operation requires that '{self.text}' is installed on your "
            f"machine, but version {found}{'' if valid else ' (not a PEP 440 version)'} "
            f"was found"
        )


def _as_written(body: str) -> tuple[tuple[str, ...], str]:
    """The extras and the version clauses of a requirement (without its marker) in the order
    and spelling written, which packaging keeps neither of: ``pkg[a,b] (>=1, <2)`` gives
    ``(("a", "b"), ">=1, <2")``."""
    m = _REQUIREMENT_RE.match(body)
    if not m:
        return (), ""
    extras = tuple(e.strip() for e in m["extras"].split(",")) if (m["extras"] or "").strip() else ()
    rest = m["rest"].strip()
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1].strip()
    return extras, rest


def _is_pep440(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def installed_version(name: str) -> Optional[str]:
    """The version of the installed distribution *name* (PEP 503 normalised), or ``None``.

    The first match on ``sys.path`` wins, as for imports. Nothing is imported.
    """
    try:
        version = importlib.metadata.version(name)
        if version is not None:
            return version
    except importlib.metadata.PackageNotFoundError:
        pass
    # Older Pythons do not normalise '.', and egg-info directories may be spelled oddly.
    wanted = normalize_name(name)
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"]
        if dist_name and normalize_name(dist_name) == wanted and dist.version is not None:
            return str(dist.version)
    return None


# --------------------------------------------------------------------------------------------
# The manifest's requirements for this machine

Entry = tuple[Requirement, ...]  # alternatives: any one satisfies the entry


class _Plan:
    """What a model requires on this machine, and what could not be understood."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.entries: list[Entry] = []
        self.problems: list[str] = []  # malformed input, unreadable requirements files
        self.unsupported: Optional[str] = None  # set when the model does not run on device
        self.uncalled: list[str] = []  # entrypoints whose packages were not asked for


def current_device() -> str:
    """``"gpu"`` or ``"cpu"``: the device a model would run on.

    ``$REMOTEZOO_DEVICE`` (``cpu`` or ``gpu``) decides when set. Otherwise ``"gpu"`` when
    ``torch`` is already imported and ``torch.cuda.is_available()``; torch is never imported
    just to find out.
    """
    forced = os.environ.get(DEVICE_ENV, "").strip().lower()
    if forced:
        if forced not in ("cpu", "gpu"):
            raise ValueError(f"{DEVICE_ENV}={forced!r} is not a device; use 'cpu' or 'gpu'")
        return forced
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return "gpu"
        except Exception as exc:  # a broken torch install is not our error to raise
            logger().debug("torch.cuda.is_available() failed: %s", exc)
    return "cpu"


def _looks_like_path(text: str) -> bool:
    return not any(c in text for c in ",|@; ") and (
        text.endswith(".txt") or "/" in text or os.sep in text
    )


def _split_commas(text: str) -> list[str]:
    """``"torch>=1,<2, numpy"`` → ``["torch>=1,<2", "numpy"]``: a piece that starts with a
    version operator continues the previous requirement."""
    pieces: list[str] = []
    for piece in text.split(","):
        piece = piece.strip()
        if pieces and piece[:1] in ("<", ">", "=", "!", "~"):
            pieces[-1] += "," + piece
        elif piece:
            pieces.append(piece)
    return pieces


def _read_requirements_file(path: str, shown: str) -> list[str]:
    """Requirement lines of *path*; raises ValueError with a message naming *shown*."""
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_REQUIREMENTS_FILE + 1)
    except OSError as exc:
        raise ValueError(f"cannot read requirements file '{shown}': {exc.strerror}") from None
    if len(data) > _MAX_REQUIREMENTS_FILE:
        raise ValueError(
            f"requirements file '{shown}' is larger than {_MAX_REQUIREMENTS_FILE} bytes"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"requirements file '{shown}' is not UTF-8") from None
    lines: list[str] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = (pending + line).strip(), ""
        if not line:
            continue
        if line.startswith("-"):
            option = line.split()[0]
            raise ValueError(
                f"requirements file '{shown}' line {start}: pip option '{option}' "
                f"is not supported; list the packages themselves"
            )
        lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _source_file(text: str, source_dir: Optional[str], field: str, where: str) -> Optional[str]:
    """The real path of the requirements file *text* names in *source_dir*, or ``None`` when it
    names no file there. A manifest may only name files inside its own source directory: an
    absolute path, a ``..`` that leaves it, or a symbolic link leading out raises ValueError
    (naming *field* and *where*, the source), whether or not the file exists."""
    if not text:
        return None
    if source_dir is None:
        if os.path.isabs(text) or _looks_like_path(text):
            raise ValueError(
                f"{field}: requirements file '{text}' is only read from a registered "
                f"source's directory"
            )
        return None
    root = os.path.realpath(source_dir)
    outside = (
        f"{field}: '{text}' is outside the directory of {where}; a manifest may only "
        f"name files inside its own source"
    )
    candidate = os.path.normpath(os.path.join(root, text))
    if os.path.isabs(text) or not _inside(candidate, root):
        raise ValueError(outside)
    if not os.path.isfile(candidate):
        return None
    real = os.path.realpath(candidate)
    if not _inside(real, root):
        raise ValueError(outside)
    return real


def _import_function(name: str) -> Callable[..., Any]:
    """The callable a dotted *name* names (``package.module.function``, or a class's method
    ``package.module.Class.method``), importing its module; raises ValueError."""
    parts = name.split(".")
    problem = "it is not a dotted name"
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError as exc:
            problem = str(exc)
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError as exc:
            raise ValueError(f"cannot find entrypoint '{name}': {exc}") from None
        if not callable(obj):
            raise ValueError(f"entrypoint '{name}' is not a function")
        function: Callable[..., Any] = obj
        return function
    raise ValueError(f"cannot import entrypoint '{name}': {problem}")


def _entrypoint(spec: dict[str, Any], field: str) -> tuple[str, dict[str, Any]]:
    """(function name, keyword arguments) of an entrypoint ``packages``; raises ValueError."""
    name, args = spec.get("entrypoint_fcn"), spec.get("entrypoint_args")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"{field}.entrypoint_fcn must name a function such as 'package.module.fcn'"
        )
    if args is not None and not isinstance(args, dict):
        raise ValueError(f"{field}.entrypoint_args must be an object")
    return name.strip(), dict(args or {})


def _package_strings(packages: Any, source_dir: Optional[str], field: str, where: str) -> list[str]:
    """The requirement strings of one ``packages`` value; raises ValueError.

    An entrypoint (``{"entrypoint_fcn": ..., "entrypoint_args": ...}``) is called, as eta
    does, and its result read as any other ``packages`` value."""
    if packages is None:
        return []
    if isinstance(packages, dict):
        name, args = _entrypoint(packages, field)
        from . import _trust  # the manifest names code to run: the source's trust decides

        _trust.before_manifest_code(f"requirements entrypoint '{name}'")
        function = _import_function(name)
        try:
            packages = function(**args)
        except Exception as exc:
            raise ValueError(
                f"{field}: entrypoint '{name}' raised {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(packages, (list, str)):
            raise ValueError(
                f"{field}: entrypoint '{name}' returned "
                f"{type(packages).__name__}, not a list of strings or a string"
            )
        field = f"{field} (from {name})"
    if isinstance(packages, list):
        if not all(isinstance(p, str) for p in packages):
            raise ValueError(f"{field} must be a list of strings")
        return [p.strip() for p in packages if p.strip()]
    if not isinstance(packages, str):
        raise ValueError(f"{field} must be a list of strings or a string")
    text = packages.strip()
    path = _source_file(text, source_dir, field, where)
    if path is not None:
        return _read_requirements_file(path, text)
    if _looks_like_path(text):
        raise ValueError(f"{field}: requirements file '{text}' not found in {where}")
    return _split_commas(text)


def _as_dict(requirements: Requirements) -> Any:
    """A model's requirements as the manifest's object (a ModelRequirements is serialized)."""
    serialize = getattr(requirements, "serialize", None)
    return (
        serialize() if callable(serialize) and not isinstance(requirements, dict) else requirements
    )


def _plan(
    model_name: str,
    requirements: Requirements,
    source_dir: Optional[str],
    source: Optional[str] = None,
    call: bool = True,
) -> _Plan:
    """What *requirements* ask of this machine. Entrypoints are called only when *call*."""
    plan = _Plan(current_device())
    requirements = _as_dict(requirements)
    if requirements is None:
        return plan
    if not isinstance(requirements, dict):
        plan.problems.append(f"requirements of model '{model_name}' must be an object")
        return plan
    where = f"source {source}" if source else (source_dir or "no source")
    sections = [("requirements.packages", requirements.get("packages"))]
    device = requirements.get(plan.device)
    field = f"requirements.{plan.device}"
    if isinstance(device, dict):
        support = device.get("support")
        if support is not None and not isinstance(support, bool):
            plan.problems.append(f"{field}.support of model '{model_name}' must be true or false")
        elif support is False:
            plan.unsupported = f"Model '{model_name}' does not support {plan.device.upper()}"
        sections.append((f"{field}.packages", device.get("packages")))
    elif device is not None:
        plan.problems.append(f"{field} of model '{model_name}' must be an object")
    for field, packages in sections:
        try:
            if isinstance(packages, dict) and not call:
                plan.uncalled.append(_entrypoint(packages, field)[0])
                continue
            strings = _package_strings(packages, source_dir, field, where)
        except ValueError as exc:
            plan.problems.append(f"model '{model_name}': {exc}")
            continue
        for string in strings:
            try:
                alternatives = [Requirement(alt) for alt in string.split("|")]
                entry = tuple(r for r in alternatives if r.applies())
            except ValueError as exc:
                plan.problems.append(
                    f"model '{model_name}': invalid requirement '{string}' in {field}: {exc}"
                )
                continue
            if entry:
                plan.entries.append(entry)
    return plan


def _unmet(entry: Entry) -> Optional[str]:
    """``None`` when one alternative of *entry* is satisfied, else the reason."""
    reasons = []
    for requirement in entry:
        reason = requirement.unmet_reason()
        if reason is None:
            return None
        reasons.append(reason)
    if len(entry) == 1:
        return reasons[0]
    versions = [(r.name, installed_version(r.name)) for r in entry]
    found = [f"{name} {version}" for name, version in versions if version is not None]
    text = "|".join(r.text for r in entry)
    return f"The requested operation requires that '{text}' is installed on your machine" + (
        f", but only {', '.join(found)} was found" if found else ""
    )


# --------------------------------------------------------------------------------------------
# The public functions


def resolve_error_level(error_level: Optional[int]) -> int:
    """*error_level*, or ``$REMOTEZOO_REQUIREMENT_ERROR_LEVEL`` when ``None`` (default 0).

    Raises :class:`ValueError` unless the level is 0 (raise), 1 (warn) or 2 (ignore).
    """
    source = "error_level"
    if error_level is None:
        raw = os.environ.get(ERROR_LEVEL_ENV, "").strip()
        if not raw:
            return 0
        source = f"${ERROR_LEVEL_ENV}"
        try:
            error_level = int(raw)
        except ValueError:
            raise ValueError(
                f"{source}={raw!r} is not an error level; use 0 (raise), 1 (warn) or 2 (ignore)"
            ) from None
    if (
        isinstance(error_level, bool)
        or not isinstance(error_level, int)
        or error_level not in (0, 1, 2)
    ):
        raise ValueError(
            f"{source}={error_level!r} is not an error level; use 0 (raise), 1 (warn) or 2 (ignore)"
        )
    return error_level


def _report(
    level: int,
    model_name: str,
    problems: list[str],
    hint: str = "",
    returncode: Optional[int] = None,
) -> None:
    """Raise, warn about or ignore *problems*, as *level* says."""
    if level == 0:
        exc = RequirementsError("; ".join(problems) + hint)
        exc.model = model_name
        if returncode is not None:
            exc.returncode = returncode
        raise exc
    log: Callable[..., None] = logger().warning if level == 1 else logger().debug
    for problem in problems:
        log("%s", problem)


def _install_hint(model_name: str) -> str:
    return (
        f" (model '{model_name}'; install with `remotezoo models requirements "
        f"{model_name} --install`)"
    )


def ensure_requirements(
    model_name: str,
    requirements: Requirements,
    source_dir: Optional[str] = None,
    error_level: Optional[int] = None,
    log_success: bool = True,
    *,
    source: Optional[str] = None,
) -> bool:
    """Check that the installed packages meet a model's ``requirements``.

    *requirements* is the manifest's ``requirements`` object or the model's
    :class:`~remotezoo._model.ModelRequirements` (``None`` means none); requirements files are
    read only inside *source_dir*, the directory of *source* (named in messages). Returns
    ``True`` when every requirement is met (each logged at INFO when *log_success*), ``False``
    otherwise unless *error_level* (default ``$REMOTEZOO_REQUIREMENT_ERROR_LEVEL``, else 0) is
    0, in which case :class:`RequirementsError` is raised naming every unmet requirement. Level
    1 logs each problem as a warning, level 2 ignores it and, as eta, calls no entrypoint (the
    other requirements decide the result); any other level is a :class:`ValueError`.
    """
    level = resolve_error_level(error_level)
    plan = _plan(model_name, requirements, source_dir, source, call=level < 2)
    unmet: list[str] = []
    for entry in plan.entries:
        reason = _unmet(entry)
        if reason is not None:
            unmet.append(reason)
        elif log_success:
            logger().info("Requirement satisfied: %s", "|".join(r.text for r in entry))
    problems = plan.problems + ([plan.unsupported] if plan.unsupported else []) + unmet
    if not problems:
        return True
    _report(level, model_name, problems, _install_hint(model_name) if unmet else "")
    return False


def installer_command() -> list[str]:
    """The argv prefix that installs packages: ``$REMOTEZOO_PIP`` (a JSON list of strings)
    or ``[sys.executable, "-m", "pip", "install"]``."""
    raw = os.environ.get(PIP_ENV, "").strip()
    if not raw:
        return [sys.executable, "-m", "pip", "install"]
    try:
        argv = json.loads(raw)
    except ValueError:
        argv = None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
        raise ValueError(
            f"${PIP_ENV} must be a JSON list of strings such as "
            f'["/usr/bin/python3", "-m", "pip", "install"]'
        )
    return argv


def install_requirements(
    model_name: str,
    requirements: Requirements,
    source_dir: Optional[str] = None,
    error_level: Optional[int] = None,
    *,
    source: Optional[str] = None,
) -> None:
    """Install a model's ``requirements`` with ``python -m pip install`` (no shell).

    All requirements for the current device go to one pip run; of alternatives ``a|b`` the
    first is installed unless one is already satisfied. A failed run, an unsupported device or
    a malformed requirement is handled by *error_level* as in :func:`ensure_requirements`: the
    :class:`RequirementsError` names pip's exit code (also ``.returncode``) and the last lines
    of its error output. ``$REMOTEZOO_PIP`` replaces the installer command.
    """
    level = resolve_error_level(error_level)
    plan = _plan(model_name, requirements, source_dir, source)
    problems = plan.problems + ([plan.unsupported] if plan.unsupported else [])
    if problems:
        _report(level, model_name, problems)
    args = [entry[0].text for entry in plan.entries if len(entry) == 1 or _unmet(entry) is not None]
    if not args:
        logger().info("Model '%s' has no requirements to install", model_name)
        return
    argv = installer_command() + args
    logger().info("Installing requirements of model '%s': %s", model_name, " ".join(args))
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
    except OSError as exc:
        _report(
            level,
            model_name,
            [
                f"Cannot run the installer '{argv[0]}' for the requirements "
                f"of model '{model_name}': {exc.strerror}"
            ],
        )
        return
    for line in (proc.stdout + proc.stderr).splitlines():
        logger().debug("pip: %s", line)
    importlib.invalidate_caches()
    if proc.returncode == 0:
        logger().info("Installed requirements of model '%s'", model_name)
        return
    tail = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    detail = " | ".join(tail[-_STDERR_TAIL_LINES:]) or "no error output"
    _report(
        level,
        model_name,
        [
            f"Installing the requirements of model '{model_name}' ({' '.join(args)}) failed: "
            f"pip exited with code {proc.returncode}: {detail}"
        ],
        returncode=proc.returncode,
    )


def requirements_summary(
    requirements: Requirements,
    source_dir: Optional[str] = None,
    model_name: str = "<model>",
    *,
    source: Optional[str] = None,
) -> list[str]:
    """The requirement strings that apply on this machine and device, alternatives as
    ``a|b``, in manifest order; an entrypoint is not called but shown as
    ``<packages from package.module.fcn>``. Raises :class:`RequirementsError` for malformed
    requirements (an unsupported device is not an error here)."""
    plan = _plan(model_name, requirements, source_dir, source, call=False)
    if plan.problems:
        _report(0, model_name, plan.problems)
    return ["|".join(r.text for r in entry) for entry in plan.entries] + [
        f"<packages from {name}>" for name in plan.uncalled
    ]
