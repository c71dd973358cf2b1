"""Build remotezoo's two C extensions against the system libraries:

  remotezoo._core  manifests, versions, specs, registry, plugin calls   (cJSON)
  remotezoo._net   downloads and extraction, imported on first use      (libcurl, libarchive,
                                                                          libcrypto, cJSON)

so that importing remotezoo, listing and loading downloaded models never map libcurl and the
~40 libraries behind it (csrc/net/net.h says why). Each extension is built from whole folders of
csrc/ (csrc/README.md): _core from util/, core/, py/ and py/core/; _net from util/, net/, py/ and
py/net/. No file is listed by hand, so _core cannot link a file of net/ by mistake.

Both are built against the limited API of CPython LIMITED_API (Py_LIMITED_API): one abi3
wheel, tagged cp39-abi3, serves that CPython and every later one (csrc/py/compat.h holds the few
shims 3.9 needs).

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
            sys.exit(
                f"remotezoo: {name} not found by pkg-config; install it: "
                f"apt-get install {LIBRARIES[name]}"
            )
        cflags += pkg_config("--cflags", name)
        libs += pkg_config("--libs", name)
    return cflags, libs


# The oldest CPython the extensions serve; pyproject.toml's requires-python says the same.
LIMITED_API = (3, 9)
ABI3_TAG = f"cp{LIMITED_API[0]}{LIMITED_API[1]}"

# The folders of csrc/ each extension is built from (csrc/README.md says what may include what).
FOLDERS = {
    "remotezoo._core": ("util", "core", "py", "py/core"),
    "remotezoo._net": ("util", "net", "py", "py/net"),
}


def sources(name: str) -> list[str]:
    return sorted(path for folder in FOLDERS[name] for path in glob(f"csrc/{folder}/*.c"))


def flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def extension(name: str, libraries: list[str]) -> Extension:
    cflags, libs = find_libraries(libraries)
    compile_args = [
        "-std=c11",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "-Werror=implicit-function-declaration",
        "-fvisibility=hidden",
    ]
    link_args: list[str] = []
    undef = ["NDEBUG"] if flag("RZ_DEBUG") or flag("RZ_SANITIZE") else []
    if flag("RZ_DEBUG") or flag("RZ_SANITIZE"):
        compile_args += ["-O0", "-g3"]
    else:
        # No function's stack frame over 16 KiB: paths and big buffers live on the heap, so the
        # C core runs on small thread stacks too (musl's default is 128 KiB).
        compile_args += ["-O2", "-Werror=frame-larger-than=16384"]
    if flag("RZ_SANITIZE"):
        sanitize = [
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=undefined",
        ]
        compile_args += sanitize
        link_args += sanitize
    return Extension(
        name,
        sources=sources(name),
        depends=sorted(glob("csrc/**/*.h", recursive=True)),
        include_dirs=["csrc"],
        define_macros=[("Py_LIMITED_API", f"0x{LIMITED_API[0]:02x}{LIMITED_API[1]:02x}0000")],
        py_limited_api=True,
        extra_compile_args=compile_args + cflags,
        extra_link_args=link_args + libs,
        undef_macros=undef,
    )


setup(
    ext_modules=[
        extension("remotezoo._core", ["libcjson"]),
        extension("remotezoo._net", list(LIBRARIES)),
    ],
    options={"bdist_wheel": {"py_limited_api": ABI3_TAG}},
)
