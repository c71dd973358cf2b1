"""Progress bars for long transfers, driven by the C core's ``progress(done, total)`` callback.

The C side (``csrc/py/py_progress.c``) releases the GIL for the transfer and calls back at most
about four times a second and once at the end, so drawing a bar costs the transfer nothing.

Policy, in one place:

- A bar is shown only when someone can see it: stderr is a terminal, or the code runs in a
  Jupyter kernel (``tqdm.auto`` then draws a widget). ``REMOTEZOO_NO_PROGRESS=1`` turns every
  bar off. Without tqdm installed there is no bar, and nothing else changes.
- The zoo functions (``register_zoo_model_source``, ``download_zoo_model``,
  ``load_zoo_model``) show a bar by default, as FiftyOne does.
- :func:`remotezoo.download_file` is a library building block: ``progress=None`` means no bar,
  ``True`` a bar under the policy above, ``False`` never, a callable is called instead. The
  ``remotezoo`` command line calls :func:`enable_download_file_bars`, so a source's
  ``download_model`` that uses ``download_file`` shows a bar there too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, Callable, Optional, Union

from ._log import logger, shown

ProgressCallback = Callable[[int, Optional[int]], object]
"""``progress(done, total)``: bytes so far, and the total (``None`` while unknown)."""

Progress = Union[ProgressCallback, bool, None]
"""What the public functions accept: a callback, ``True``/``False`` (bar or not), or ``None``
(the function's default)."""

_download_file_bars = False


def progress_enabled() -> bool:
    """Whether a bar would be seen: not disabled by ``REMOTEZOO_NO_PROGRESS``, and in a
    Jupyter kernel or with stderr on a terminal."""
    if os.environ.get("REMOTEZOO_NO_PROGRESS", "") not in ("", "0"):
        return False
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def enable_download_file_bars(enabled: bool = True) -> None:
    """Make ``download_file(progress=None)`` show a bar (the command line does this)."""
    global _download_file_bars
    _download_file_bars = enabled


class ProgressBar:
    """A ``progress(done, total)`` callback that draws one tqdm bar, opened on first use.

    A failure of tqdm itself (say, stderr was closed) turns the bar off rather than stopping
    the transfer.
    """

    def __init__(self, tqdm: Any, desc: Optional[str] = None) -> None:
        self._tqdm = tqdm
        self._desc = None if desc is None else shown(desc)  # a name from a manifest, a URL
        self._bar: Any = None
        self._broken = False

    def __call__(self, done: int, total: Optional[int]) -> None:
        if self._broken:
            return
        try:
            if self._bar is None:
                self._bar = self._tqdm(
                    total=total,
                    desc=self._desc,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    dynamic_ncols=True,
                    leave=True,
                )
            elif total is not None and self._bar.total != total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)
        except Exception as err:  # noqa: BLE001 - a bar must never break a download
            self._broken = True
            logger().debug("progress bar disabled: %s", err)

    def close(self) -> None:
        """Finish the bar (it stays on screen, complete or not)."""
        bar, self._bar = self._bar, None
        if bar is not None:
            try:
                bar.close()
            except Exception as err:  # noqa: BLE001
                logger().debug("progress bar close failed: %s", err)


def _tqdm() -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        logger().debug("tqdm is not installed: no progress bars")
        return None
    return tqdm


def default_progress(desc: Optional[str] = None) -> Optional[ProgressBar]:
    """A :class:`ProgressBar` when :func:`progress_enabled` and tqdm is installed, else None."""
    if not progress_enabled():
        return None
    tqdm = _tqdm()
    return None if tqdm is None else ProgressBar(tqdm, desc)


@contextlib.contextmanager
def progress_for(
    progress: Progress, desc: Optional[str] = None, default: bool = True
) -> Iterator[Optional[ProgressCallback]]:
    """Turn a public ``progress`` argument into what the C core takes (a callable or None),
    and close the bar it opened when the transfer ends, however it ends.

    *default* is what ``None`` means: a bar (True) or none (False).
    """
    if callable(progress):
        yield progress
        return
    want = default if progress is None else bool(progress)
    bar = default_progress(desc) if want else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def download_file_default() -> bool:
    """What ``download_file(progress=None)`` means: a bar only under the command line."""
    return _download_file_bars
