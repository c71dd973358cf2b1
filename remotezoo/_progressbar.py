"""Progress bars for long transfers: tqdm (a widget in Jupyter via tqdm.auto) when the user
can see it, nothing otherwise."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Optional


def _interactive() -> bool:
    if os.environ.get("REMOTEZOO_NO_PROGRESS", "") not in ("", "0"):
        return False
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


class _Bar:
    """A progress(done, total) callback that draws one tqdm bar, opened on first use."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self._bar: Any = None

    def __call__(self, done: int, total: Optional[int]) -> None:
        if self._bar is None:
            self._bar = self._tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                   leave=False, dynamic_ncols=True)
        elif total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)
        if total is not None and done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __del__(self) -> None:
        self.close()


def default_progress() -> Optional[Callable[[int, Optional[int]], None]]:
    """A tqdm-driven progress callback when interactive and tqdm is installed, else None."""
    if not _interactive():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return _Bar(tqdm)
