"""Build remotezoo's two C extensions against the system libraries:

  remotezoo._core  manifests, versions, specs, registry, plugin calls   (cJSON)
  remotezoo._net   downloads and extraction, imported on first use      (libcurl, libarchive,
                                                                          libcrypto, cJSON)

so that importing remotezoo, listing and loading downloaded models never map libcurl and the
~40 libraries behind it (csrc/net.h says why).

Environment switches:
  RZ_DEBUG=1     -O0 -g3, asserts on
  RZ_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (implies RZ_DEBUG)
"""

import os
import shlex
import subprocess
import sys
from glob import glob

from setuptools import Extension, setup

# pkg-config name -> the Debian package that provides it.
LIBRARIES = {
    "libcurl": "libcurl4-openssl-dev",
    "libarchive": "libarchive-dev",
    "libcjson": "libcjson-dev",
    "libcrypto": "libssl-dev",
}


def pkg_config(*args: str) -> list[str]:
    try:
        out = subprocess.run(
            ["pkg-config", *args], check=True, capture_output=True, text=True
        ).stdout
    except FileNotFoundError:
        sys.exit("remotezoo: pkg-config not found; install it: apt-get install pkg-config")
    return shlex.split(out)


def find_libraries(names: list[str]) -> tuple[list[str], list[str]]:
    cflags: list[str] = []
    libs: list[str] = []
    for name in names:
        if subprocess.run(["pkg-config", "--exists", name]).returncode != 0:
            sys.exit(f"remotezoo: {name} not found by pkg-config; install it: apt-get install {LIBRARIES[name]}")
        cflags += pkg_config("--cflags", name)
        libs += pkg_config("--libs", name)
    return cflags, libs


# Compiled into both extensions: errors, file-system helpers, locks, and the Python glue they
# share.
SHARED = ["csrc/error.c", "csrc/fsutil.c", "csrc/lock.c", "csrc/py_error.c", "csrc/py_progress.c"]
# remotezoo._net: the engines behind csrc/net.h.
NET = ["csrc/extract.c", "csrc/fetch.c", "csrc/fetch_parallel.c", "csrc/fetch_tree.c",
       "csrc/http_headers.c", "csrc/net_module.c", "csrc/py_extract.c", "csrc/py_fetch.c",
       "csrc/rewrite.c", "csrc/sha256.c"]


def flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def extension(name: str, sources: list[str], libraries: list[str]) -> Extension:
    cflags, libs = find_libraries(libraries)
    compile_args = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-parameter",
                    "-Wno-missing-field-initializers", "-fvisibility=hidden"]
    link_args: list[str] = []
    undef = ["NDEBUG"] if flag("RZ_DEBUG") or flag("RZ_SANITIZE") else []
    if flag("RZ_DEBUG") or flag("RZ_SANITIZE"):
        compile_args += ["-O0", "-g3"]
    else:
        compile_args += ["-O2"]
    if flag("RZ_SANITIZE"):
        sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                    "-fno-sanitize-recover=undefined"]
        compile_args += sanitize
        link_args += sanitize
    return Extension(
        name,
        sources=sorted(sources),
        depends=sorted(glob("csrc/*.h")),
        extra_compile_args=compile_args + cflags,
        extra_link_args=link_args + libs,
        undef_macros=undef,
    )


core = sorted(set(glob("csrc/*.c")) - set(NET))
setup(ext_modules=[
    extension("remotezoo._core", core, ["libcjson"]),
    extension("remotezoo._net", NET + SHARED, list(LIBRARIES)),
])
