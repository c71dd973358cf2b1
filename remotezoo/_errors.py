"""The exceptions of trust, lock files and bundles (the rest of the tree is the C core's,
``remotezoo._core``). Here, apart from the modules that raise them, so that ``import
remotezoo`` does not import those.

Their messages are shown as every message of the C core is: URLs redacted (no
``user:password@``, query values ``REDACTED``) and control characters escaped, whatever text a
source identity, a lock file or a bundle brought into them."""

from __future__ import annotations

from ._core import RemoteZooError
from ._log import shown


class _Shown(RemoteZooError):
    def __init__(self, message: str) -> None:
        super().__init__(shown(message))


class UntrustedSourceError(_Shown, PermissionError):
    """A source's code was about to run without trust (``REMOTEZOO_TRUST=prompt|strict``)."""


class TrustStoreError(_Shown, PermissionError):
    """``trust.json`` cannot be believed: damaged, or writable by someone else."""


class LockFileError(_Shown, ValueError):
    """A lock file is malformed, or (frozen mode) the zoo would differ from it."""


class BundleError(_Shown, ValueError):
    """A bundle is malformed, or does not hold what its lock file says."""
