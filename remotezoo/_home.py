"""Where remotezoo keeps its registry and downloads."""

from __future__ import annotations

import os


def home() -> str:
    """Return the remotezoo home directory.

    ``$REMOTEZOO_HOME`` when set, else ``$XDG_CACHE_HOME/remotezoo``, else
    ``~/.cache/remotezoo``. Sources live in ``sources/``, downloaded models in ``models/``.
    """
    path = os.environ.get("REMOTEZOO_HOME")
    if not path:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(cache, "remotezoo")
    return os.path.abspath(os.path.expanduser(path))
