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


def read_only(root: str) -> bool:
    """Whether the home *root* must not be written: ``REMOTEZOO_READ_ONLY`` is set, or it
    is on a read-only file system, or this user may not write it."""
    if os.environ.get("REMOTEZOO_READ_ONLY", "") not in ("", "0"):
        return True
    try:
        if os.statvfs(root).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False  # not there yet: made on first write
    return not os.access(root, os.W_OK)


def require_writable(root: str, what: str) -> None:
    """Raise :class:`OSError` (EROFS) naming *what* would have written, when *root* is read-only."""
    if read_only(root):
        import errno

        raise OSError(
            errno.EROFS,
            f"the cache {root} is read-only (a read-only mount, no write permission "
            f"or REMOTEZOO_READ_ONLY=1): cannot {what}",
        )
