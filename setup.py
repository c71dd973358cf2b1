"""Build remotezoo._core against the system libcurl, libarchive, cJSON and libcrypto.

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


def find_libraries() -> tuple[list[str], list[str]]:
    cflags: list[str] = []
    libs: list[str] = []
    for name, debian in LIBRARIES.items():
        if subprocess.run(["pkg-config", "--exists", name]).returncode != 0:
            sys.exit(f"remotezoo: {name} not found by pkg-config; install it: apt-get install {debian}")
        cflags += pkg_config("--cflags", name)
        libs += pkg_config("--libs", name)
    return cflags, libs


def flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def extension() -> Extension:
    cflags, libs = find_libraries()
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
        "remotezoo._core",
        sources=sorted(glob("csrc/*.c")),
        depends=sorted(glob("csrc/*.h")),
        extra_compile_args=compile_args + cflags,
        extra_link_args=link_args + libs,
        undef_macros=undef,
    )


setup(ext_modules=[extension()])
