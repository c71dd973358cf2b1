"""Parent package of the sources' code.

The C core imports each source directory as ``remotezoo._sources.<slug>``. In a process that
has not imported it yet (a worker unpickling an object a source defined), the finder below asks
the registry where that source lives, so the name imports there too: after the trust check of
``REMOTEZOO_TRUST`` (_trust.py), as every other path that runs a source's code.

The sources' modules are loaded without writing ``__pycache__`` into the cache: a cache shared
by many hosts, or mounted read-only, holds only what remotezoo put there.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from typing import Optional

from .. import _core, _trust
from .._home import home

_PREFIX = __name__ + "."

# Specs the C core is importing right now (plugin.c): name -> ModuleSpec. They win over the
# registry, which another process may change between the core's resolve and the import.
_pending: dict[str, importlib.machinery.ModuleSpec] = {}


class _NoBytecodeLoader(importlib.machinery.SourceFileLoader):
    """A source file loader that never writes bytecode (``set_data`` is where it would)."""

    def set_data(self, path: str, data: object, *, _mode: int = 0o666) -> None:
        pass


def _without_bytecode(
    spec: Optional[importlib.machinery.ModuleSpec],
) -> Optional[importlib.machinery.ModuleSpec]:
    loader = spec.loader if spec is not None else None
    if spec is not None and type(loader) is importlib.machinery.SourceFileLoader and spec.origin:
        spec.loader = _NoBytecodeLoader(spec.name, spec.origin)
    return spec


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds ``remotezoo._sources.<slug>`` packages through the registry, and their modules
    (first in ``sys.meta_path``: they load without writing bytecode)."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: object = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if not fullname.startswith(_PREFIX):
            return None
        if "." in fullname[len(_PREFIX) :]:  # a module of a source: found where Python finds it
            return _without_bytecode(importlib.machinery.PathFinder.find_spec(fullname, path))
        spec = _pending.get(fullname)  # the C core checked its trust before it asked
        if spec is None:
            spec = _core.module_spec(home(), fullname, _trust.gate())
        return _without_bytecode(spec)


if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _SourceFinder())
