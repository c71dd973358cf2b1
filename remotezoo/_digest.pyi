"""Type stubs for ``remotezoo._digest``: the digests of models and source trees (csrc/net/digest.h),
linked with libcrypto only, so that recording a download's digest maps no libcurl or libarchive."""

import os
from typing import Literal, Union

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

def digest(
    path: _Path, *, follow: bool = True, skip_pycache: bool = False
) -> tuple[Literal["file", "tree"], int, str]:
    """``(kind, size, sha256)`` of a file (its SHA-256) or a directory (the rz-tree-v1 digest:
    csrc/net/digest.h); *follow*: a symbolic link at *path* itself is followed; *skip_pycache*
    leaves out ``__pycache__`` directories."""
