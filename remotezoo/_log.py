"""The ``remotezoo`` logger, made on first use, and :func:`shown`, the form in which text from
users, sources and servers is shown to people (log lines, messages, progress bars, the CLI).

Importing :mod:`logging` costs a fresh interpreter 5–10 ms, more than the rest of
``import remotezoo``; a script that only lists or loads models never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._core import redact

if TYPE_CHECKING:
    import logging

# Characters that steer a terminal or reorder what it shows: C0 and C1 controls (ESC starts
# cursor moves and title changes, U+009B is CSI to many terminals), DEL, the bidirectional marks
# and overrides and the Unicode line separators. Each is shown as a Python escape.
_CONTROLS = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x200E,
    0x200F,
    *range(0x2028, 0x202F),
    *range(0x2066, 0x206A),
]
_ESCAPED = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}


def shown(text: object) -> str:
    """*text* as it may be shown to a person: every URL in it redacted as the C core redacts
    every message (no ``user:password@``, query and fragment values ``REDACTED``), and every
    control character escaped (``\\x1b``), so a manifest or a server cannot move the cursor,
    retitle the terminal or hide text, and no token reaches a log or a screen."""
    return redact(str(text).translate(_ESCAPED))


def logger() -> logging.Logger:
    """The ``remotezoo`` logger (``logging.getLogger("remotezoo")``)."""
    import logging

    return logging.getLogger("remotezoo")
