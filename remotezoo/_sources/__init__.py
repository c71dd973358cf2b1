"""Parent package of the sources' code.

The C core imports each source directory as ``remotezoo._sources.<slug>``. In a process that
has not imported it yet (a worker unpickling an object a source defined), the finder below asks
the registry where that source lives, so the name imports there too: after the trust check of
``REMOTEZOO_TRUST`` (_trust.py), as every other path that runs a source's code.
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


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds ``remotezoo._sources.<slug>`` packages through the registry."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: object = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if not fullname.startswith(_PREFIX) or "." in fullname[len(_PREFIX) :]:
            return None
        spec = _pending.get(fullname)  # the C core checked its trust before it asked
        return spec if spec is not None else _core.module_spec(home(), fullname, _trust.gate())


if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
    sys.meta_path.append(_SourceFinder())
