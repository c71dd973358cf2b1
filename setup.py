"""Build remotezoo's three C extensions against the system libraries:

  remotezoo._core  manifests, versions, specs, registry, plugin calls   (cJSON)
  remotezoo._net   downloads and extraction, imported on first use      (libcurl, libarchive,
                                                                          libcrypto, cJSON)
  remotezoo._digest  digests of models and trees, imported on first use  (libcrypto)

so that importing remotezoo, listing and loading downloaded models never map libcurl and the
~40 libraries behind it (csrc/net/net.h says why). Each extension is built from whole folders of
csrc/ (csrc/README.md): _core from util/, core/, py/ and py/core/; _net from util/, net/, py/ and
py/net/; _digest from util/, py/, py/digest/ and, of net/, digest.c and sha256.c (named, the only
files listed by hand). So _core cannot link a file of net/ by mistake.

All are built against the limited API of CPython LIMITED_API (Py_LIMITED_API): one abi3
wheel, tagged cp39-abi3, serves that CPython and every later one (csrc/py/compat.h holds the few
shims 3.9 needs).

Environment switches:
  RZ_DEBUG=1          -O0 -g3, asserts on
  RZ_SANITIZE=1       AddressSanitizer + UndefinedBehaviorSanitizer (implies RZ_DEBUG)
  RZ_STATIC_DEPS=DIR  link the static libraries of DIR (made by scripts/build_wheel_deps.sh for
                      an old glibc) with DIR's compiler instead of the system's libraries: the
                      manylinux wheel. Only PyInit_* is exported; unused code is dropped.

Before compiling, every library is checked (present, and at least the version remotezoo needs);
all that is wrong is named in one message with the Debian packages to install.
"""

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from glob import glob
from typing import Optional

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# pkg-config name -> the oldest version that has what remotezoo uses, what that is, and the
# Debian/Ubuntu package that provides the library.
LIBRARIES = {
    "libcurl": ("7.85.0", "CURLOPT_PROTOCOLS_STR", "libcurl4-openssl-dev"),
    "libarchive": ("3.3.3", "its zstd filter", "libarchive-dev"),
    "libcjson": ("1.7.13", "cJSON_ParseWithLengthOpts", "libcjson-dev"),
    "libcrypto": ("1.1.0", "EVP_MD_CTX_new", "libssl-dev"),
}

# The oldest CPython the extensions serve, through its limited API: the wheel is tagged abi3 and
# serves every CPython from that version on (tests/test_wheel.py holds it to that);
# pyproject.toml's requires-python says the same.
LIMITED_API: str = "3.9"

STATIC_DEPS = os.environ.get("RZ_STATIC_DEPS", "")
PKG_CONFIG = os.environ.get("PKG_CONFIG", "pkg-config")


def pkg_config(*args: str) -> Optional[str]:
    """pkg-config's output, or None when it fails (unknown library, version too old)."""
    if STATIC_DEPS:
        # Only DIR's own .pc files, with what static linking needs (Libs.private).
        env = dict(
            os.environ,
            PKG_CONFIG_LIBDIR=os.path.join(STATIC_DEPS, "lib", "pkgconfig"),
            PKG_CONFIG_PATH="",
        )
        args = ("--static", *args)
    else:
        env = None
    proc = subprocess.run([PKG_CONFIG, *args], capture_output=True, text=True, env=env)
    return proc.stdout if proc.returncode == 0 else None


def check_libraries() -> None:
    """Exit with one message naming every library that is missing or too old, if any."""
    packages = " ".join(["pkg-config"] + [package for _, _, package in LIBRARIES.values()])
    if shutil.which(PKG_CONFIG) is None:
        sys.exit(
            f"remotezoo: pkg-config not found, so the libraries cannot be found either; install "
            f"them (Debian/Ubuntu: apt-get install {packages})"
        )
    problems, missing, too_old = [], [], False
    for name, (floor, needed_for, package) in LIBRARIES.items():
        version = pkg_config("--modversion", name)
        if version is None:
            problems.append(f"{name} not found")
            missing.append(package)
        elif pkg_config(f"--atleast-version={floor}", name) is None:
            problems.append(f"{name} {version.strip()} is older than {floor} (for {needed_for})")
            too_old = True
    if problems:
        # A library too old is the system's own (Debian 11's libcurl): installing its package
        # again changes nothing, a newer release of the system or the wheel does.
        remedies = (
            [f"install (Debian/Ubuntu): apt-get install {' '.join(missing)}"] if missing else []
        )
        if too_old:
            remedies.append("take the newer library from a newer release of the system")
        remedies.append("install remotezoo's manylinux wheel, which needs none")
        way_out = "; or ".join(remedies)
        sys.exit(
            f"remotezoo: cannot build: {'; '.join(problems)}. {way_out[0].upper()}{way_out[1:]}"
        )


def library_flags(names: list[str]) -> tuple[list[str], list[str]]:
    """Compile and link flags for the libraries of names (check_libraries has run)."""
    cflags = shlex.split(pkg_config("--cflags", *names) or "")
    libs = shlex.split(pkg_config("--libs", *names) or "")
    return cflags, libs


# The folders of csrc/ each extension is built from (csrc/README.md says what may include what).
FOLDERS = {
    "remotezoo._core": ("util", "core", "py", "py/core"),
    "remotezoo._net": ("util", "net", "py", "py/net"),
    "remotezoo._digest": ("util", "py", "py/digest"),
}
# remotezoo._digest hashes models and trees with libcrypto alone (a download through a source's
# own code records its digest without mapping libcurl): of net/ it takes these two files only.
FILES = {"remotezoo._digest": ("net/digest.c", "net/sha256.c")}


def sources(name: str) -> list[str]:
    files = [path for folder in FOLDERS[name] for path in glob(f"csrc/{folder}/*.c")]
    return sorted(files + [f"csrc/{path}" for path in FILES.get(name, ())])


def flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


class BuildExt(build_ext):
    """Checks the libraries and adds their flags when the extensions are built, not when this
    file is read: an sdist or metadata needs none of them."""

    def run(self) -> None:
        check_libraries()
        for ext in self.extensions:
            cflags, libs = library_flags(ext.libraries_wanted)  # type: ignore[attr-defined]
            ext.extra_compile_args += cflags
            ext.extra_link_args += libs
        if STATIC_DEPS:
            compile_args, link_args = self.static_flags()
            for ext in self.extensions:
                ext.extra_compile_args += compile_args
                ext.extra_link_args += link_args
            # No library directory of the interpreter's (Debian's is /usr/lib/x86_64-linux-gnu):
            # there the linker would find the machine's libcurl and glibc before DIR's.
            self.library_dirs = []
        super().run()

    def build_extensions(self) -> None:
        # No function's stack frame over 16 KiB: paths and big buffers live on the heap, so the
        # C core runs on small thread stacks too (musl's default is 128 KiB). An error with gcc
        # and with clang (zig cc), which spell it differently and only warn at the other's.
        if not (flag("RZ_DEBUG") or flag("RZ_SANITIZE")):
            compiler = self.compiler.compiler_so[0]  # type: ignore[attr-defined]
            about = subprocess.run([compiler, "--version"], capture_output=True, text=True)
            if "clang" in about.stdout:
                limit = ["-Wframe-larger-than=16384", "-Werror=frame-larger-than"]
            else:
                limit = ["-Werror=frame-larger-than=16384"]
            for ext in self.extensions:
                ext.extra_compile_args += limit
        super().build_extensions()

    def static_flags(self) -> tuple[list[str], list[str]]:
        """What the build against RZ_STATIC_DEPS adds, with files it writes to build_temp."""
        scratch = os.path.abspath(self.build_temp)
        os.makedirs(scratch, exist_ok=True)
        # Export the module's init function only: the libraries linked in stay private, so
        # they never meet another copy in the process (Python's own _ssl, say).
        exports = os.path.join(scratch, "exports.map")
        with open(exports, "w") as f:
            f.write("{ global: PyInit_*; local: *; };\n")
        compile_args: list[str] = []
        # Debian's Python.h includes <x86_64-linux-gnu/python3.X/pyconfig.h> from /usr/include,
        # which DIR's compiler does not search (nor should it: no other header of the machine's
        # may meet the static libraries'): that one directory is offered, under a root of its own.
        multiarch = sysconfig.get_config_var("MULTIARCH") or ""
        include = sysconfig.get_paths()["include"]
        arch_config = os.path.join(os.path.dirname(include), multiarch, os.path.basename(include))
        if multiarch and os.path.isdir(arch_config):
            root = os.path.join(scratch, "pyconfig")
            link = os.path.join(root, multiarch, os.path.basename(include))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if not os.path.islink(link):
                os.symlink(arch_config, link)
            compile_args.append(f"-I{root}")
        return compile_args, [f"-Wl,--version-script={exports}"]


def extension(name: str, libraries: list[str]) -> Extension:
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
    macros: list[tuple[str, Optional[str]]] = []
    undef = ["NDEBUG"] if flag("RZ_DEBUG") or flag("RZ_SANITIZE") else []
    if flag("RZ_DEBUG") or flag("RZ_SANITIZE"):
        compile_args += ["-O0", "-g3"]
    else:
        compile_args += ["-O2"]  # and no frame over 16 KiB: BuildExt.build_extensions
    if flag("RZ_SANITIZE"):
        sanitize = [
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=undefined",
        ]
        compile_args += sanitize
        link_args += sanitize
    if STATIC_DEPS:
        compile_args += ["-ffunction-sections", "-fdata-sections"]
        link_args += ["-Wl,--gc-sections"]
    major, minor = LIMITED_API.split(".")
    macros.append(("Py_LIMITED_API", f"0x{int(major):02x}{int(minor):02x}0000"))
    ext = Extension(
        name,
        sources=sources(name),
        depends=sorted(glob("csrc/**/*.h", recursive=True)),
        include_dirs=["csrc"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        define_macros=macros,
        undef_macros=undef,
        py_limited_api=True,
    )
    ext.libraries_wanted = libraries  # type: ignore[attr-defined]
    return ext


if STATIC_DEPS:
    # DIR's libraries were built for an old glibc by DIR's compiler; the extensions must be too.
    compiler = os.path.join(STATIC_DEPS, "bin", "cc")
    os.environ.setdefault("CC", compiler)
    os.environ.setdefault("LDSHARED", f"{compiler} -shared")

setup(
    ext_modules=[
        extension("remotezoo._core", ["libcjson"]),
        extension("remotezoo._net", list(LIBRARIES)),
        extension("remotezoo._digest", ["libcrypto"]),
    ],
    cmdclass={"build_ext": BuildExt},
    options={"bdist_wheel": {"py_limited_api": "cp" + LIMITED_API.replace(".", "")}},
)
