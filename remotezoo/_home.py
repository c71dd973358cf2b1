"""Where remotezoo keeps its registry and downloads."""

from __future__ import annotations

import os
from typing import Optional


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


def read_only(root: Optional[str] = None) -> bool:
    """Return whether the home *root* (default :func:`home`) is read-only.

    It is when ``$REMOTEZOO_READ_ONLY`` is set (not ``""`` or ``"0"``), when it is on a
    read-only mount, or when this process may not write it. A read-only home serves listings,
    lookups and loads of downloaded models without writing anything; what would change it
    raises ``OSError`` (``errno.EROFS``) saying that the cache is read-only. The C core decides
    with the same function (``rz_home_read_only``); tools that write to the home check this.
    """
    from . import _core

    return bool(_core.home_read_only(root or home()))


def require_writable(root: str, what: str) -> None:
    """Raise :class:`OSError` (EROFS) naming *what* would have written, when *root* is read-only."""
    if read_only(root):
        import errno

        raise OSError(
            errno.EROFS,
            f"the cache {root} is read-only (a read-only mount, no write permission "
            f"or REMOTEZOO_READ_ONLY=1): cannot {what}",
        )
