"""The ``remotezoo`` logger, made on first use.

Importing :mod:`logging` costs a fresh interpreter 5–10 ms, more than the rest of
``import remotezoo``; a script that only lists or loads models never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


def logger() -> logging.Logger:
    """The ``remotezoo`` logger (``logging.getLogger("remotezoo")``)."""
    import logging

    return logging.getLogger("remotezoo")
