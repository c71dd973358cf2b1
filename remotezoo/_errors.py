"""The exceptions of trust, lock files and bundles (the rest of the tree is the C core's,
``remotezoo._core``). Here, apart from the modules that raise them, so that ``import
remotezoo`` does not import those."""

from __future__ import annotations

from ._core import RemoteZooError


class UntrustedSourceError(RemoteZooError, PermissionError):
    """A source's code was about to run without trust (``REMOTEZOO_TRUST=prompt|strict``)."""


class TrustStoreError(RemoteZooError, PermissionError):
    """``trust.json`` cannot be believed: damaged, or writable by someone else."""


class LockFileError(RemoteZooError, ValueError):
    """A lock file is malformed, or (frozen mode) the zoo would differ from it."""


class BundleError(RemoteZooError, ValueError):
    """A bundle is malformed, or does not hold what its lock file says."""
