#!/usr/bin/env bash
# The static libraries the manylinux wheel links: zlib, bzip2, xz (liblzma), zstd, OpenSSL
# (libcrypto, libssl), libcurl (http and https only) and libarchive (tar and zip; gzip, bzip2, xz,
# zstd), and cJSON — each from the Debian source package pinned in scripts/wheel-deps.txt, built
# with `zig cc` (ziglang from PyPI) against the old glibc named there, so the wheel needs nothing
# newer at run time. Built once: the result is cached under a key of the pins and this script.
#
#   bash scripts/build_wheel_deps.sh      # last line: the prefix (include/, lib/*.a,
#                                         # lib/pkgconfig/, licenses/<library>/, bin/cc)
#
# RZ_DEPS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/remotezoo-build): where the prefixes, zig
# and the source indices are kept. Needs dpkg-dev (apt-get source) and installs it when missing;
# the sources' indices live in the cache, so the system's apt configuration is not touched.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

say() { printf 'build_wheel_deps: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

PINS=$RZ_ROOT/scripts/wheel-deps.txt
pin() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ +/, ""); print; found = 1 } END { exit !found }' "$PINS" \
    || die "$PINS has no '$1'"; }
CACHE=${RZ_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/remotezoo-build}
# The pins without their comments, and this recipe: a change of either is a new build.
KEY=$( (grep -v '^#' "$PINS"; cat "${BASH_SOURCE[0]}") | sha256sum | cut -c1-16)
PREFIX=$CACHE/deps-$KEY
mkdir -p "$CACHE"
# One build at a time per cache (a second waits, then finds the first one's result).
exec 9>"$CACHE/lock"
flock 9
if [ -f "$PREFIX/.complete" ]; then
    say "cached: $PREFIX"
    echo "$PREFIX"
    exit 0
fi

PYTHON=$(rz_python)
GLIBC=$(pin glibc)
JOBS=${RZ_JOBS:-$(nproc)}
rz_apt_install dpkg-dev

# zig, in the cache (not in anyone's environment): ziglang's wheel carries the compiler.
ZIG_DIR=$CACHE/ziglang-$(pin ziglang)
if [ ! -x "$ZIG_DIR/ziglang/zig" ]; then
    say "installing ziglang $(pin ziglang) into $ZIG_DIR"
    rm -rf "$ZIG_DIR.tmp"
    "$PYTHON" -m pip install --quiet --no-deps --target "$ZIG_DIR.tmp" "ziglang==$(pin ziglang)"
    rm -rf "$ZIG_DIR"
    mv "$ZIG_DIR.tmp" "$ZIG_DIR"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/remotezoo-deps.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$PREFIX.tmp
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/include" "$STAGE/lib/pkgconfig" "$STAGE/licenses"

# The compiler every build below and setup.py use: one path, no spaces, for every build system.
cat >"$STAGE/bin/cc" <<EOF
#!/bin/sh
exec "$ZIG_DIR/ziglang/zig" cc -target x86_64-linux-gnu.$GLIBC "\$@"
EOF
chmod +x "$STAGE/bin/cc"
export CC=$STAGE/bin/cc AR=ar RANLIB=ranlib
# -O2 also keeps zig from adding its debug-mode UBSan; sections let the final link drop unused code.
export CFLAGS="-O2 -fPIC -ffunction-sections -fdata-sections"
export CPPFLAGS="-I$STAGE/include" LDFLAGS="-L$STAGE/lib"
# Only our own .pc files: a library of the build machine must never leak in.
export PKG_CONFIG_LIBDIR=$STAGE/lib/pkgconfig PKG_CONFIG_PATH=""

# apt-get source with the cache's own indices of Debian's sources (deb-src for the pinned suites).
APT_DIR=$CACHE/apt
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial"
: >"$APT_DIR/sources.list"
for suite in $(pin suites); do
    case "$suite" in *-security) url=$(pin security) ;; *) url=$(pin mirror) ;; esac
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $url $suite main" \
        >>"$APT_DIR/sources.list"
done
APT=(apt-get -q -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
     -o Dir::Etc::SourceParts=/dev/null -o "Dir::Cache=$APT_DIR" -o Dir::State::status=/dev/null)
say "fetching the index of Debian's sources ($(pin suites))"
"${APT[@]}" update >"$WORK/apt-update.log" 2>&1 || { cat "$WORK/apt-update.log" >&2; die "apt-get update failed"; }

# Fetch and unpack (Debian's patches applied) the pinned source package $1 and cd there.
fetch() {
    local version offered
    version=$(pin "$1")
    mkdir -p "$WORK/src/$1"
    cd "$WORK/src/$1"
    if ! "${APT[@]}" source --only-source "$1=$version" >"$WORK/$1-fetch.log" 2>&1; then
        cat "$WORK/$1-fetch.log" >&2
        offered=$("${APT[@]/apt-get/apt-cache}" showsrc --only-source "$1" 2>/dev/null \
            | awk '/^Version:/ { print $2 }' | sort -u | paste -sd' ')
        die "apt-get source $1=$version failed; the index offers: $offered (edit $PINS)"
    fi
    cd "$(find "$WORK/src/$1" -mindepth 1 -maxdepth 1 -type d)"
    # Debian's patches may touch Makefile.am or configure.ac (for their own tests): keep the
    # generated files upstream shipped, marked newer, so that no autotools are needed.
    local generated
    for generated in aclocal.m4 configure; do [ ! -f "$generated" ] || touch "$generated"; done
    find . \( -name config.h.in -o -name Makefile.in \) -exec touch {} +
}

# Run "$@" in the current directory with output to a log, shown if it fails.
step() {
    "$@" >>"$WORK/build.log" 2>&1 || { tail -n 60 "$WORK/build.log" >&2; die "failed: $*"; }
}

# Copy the license files $2... of library $1 (and Debian's copyright file) into licenses/$1/.
licenses() {
    local lib=$1 file
    shift
    mkdir -p "$STAGE/licenses/$lib"
    cp debian/copyright "$STAGE/licenses/$lib/copyright"
    for file in "$@"; do cp "$file" "$STAGE/licenses/$lib/"; done
}

started=$SECONDS
say "zlib"
fetch zlib
step ./configure --static --prefix="$STAGE"
step make -j"$JOBS" libz.a
step make install
licenses zlib LICENSE

say "bzip2"
fetch bzip2
step make -j"$JOBS" libbz2.a CC="$CC" AR=ar RANLIB=ranlib CFLAGS="$CFLAGS -D_FILE_OFFSET_BITS=64"
cp bzlib.h "$STAGE/include/"
cp libbz2.a "$STAGE/lib/"
licenses bzip2 LICENSE

say "xz (liblzma)"
fetch xz-utils
step ./configure --prefix="$STAGE" --disable-shared --enable-static --disable-xz --disable-xzdec \
    --disable-lzmadec --disable-lzmainfo --disable-lzma-links --disable-scripts --disable-doc --disable-nls
step make -j"$JOBS" -C src/liblzma
step make -C src/liblzma install
licenses xz COPYING COPYING.0BSD

say "zstd"
fetch libzstd
step make -j"$JOBS" -C lib libzstd.a-mt
step make -C lib install-static install-includes install-pc PREFIX="$STAGE"
licenses zstd LICENSE

say "OpenSSL (libcrypto, libssl)"
fetch openssl
# The wheel never reads the build machine's configuration (its openssl.cnf belongs to another
# OpenSSL); remotezoo gives libcurl the CA bundle itself (csrc/net/ca_bundle.c).
step ./Configure linux-x86_64 --prefix="$STAGE" --libdir=lib --openssldir=/usr/local/ssl no-shared \
    no-module no-engine no-dso no-tests no-docs no-legacy no-comp no-quic "$CFLAGS"
step make -j"$JOBS" build_libs
step make install_dev
licenses openssl LICENSE.txt

say "libcurl (http, https)"
fetch curl
step ./configure --prefix="$STAGE" --disable-shared --enable-static --with-openssl="$STAGE" \
    --without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2 --without-nghttp2 \
    --without-nghttp3 --without-ngtcp2 --without-libssh2 --without-libssh --without-librtmp \
    --without-gssapi --without-libgsasl --without-ca-bundle --without-ca-path --without-ca-fallback \
    --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
    --disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
    --disable-ftp --disable-file --disable-ipfs --disable-websockets --disable-ntlm --disable-kerberos-auth \
    --disable-negotiate-auth --disable-manual --disable-docs --enable-threaded-resolver
step make -j"$JOBS" -C lib
step make -C lib install
step make -C include install
cp libcurl.pc "$STAGE/lib/pkgconfig/"
licenses curl COPYING

say "libarchive (tar, zip; gzip, bzip2, xz, zstd)"
fetch libarchive
# Newer kernel headers (zig's) define EFTYPE; libarchive would report format errors with it
# instead of EILSEQ, which every distribution's libarchive and remotezoo's extract.c use.
step ./configure ac_cv_have_decl_EFTYPE=no --prefix="$STAGE" --disable-shared --enable-static \
    --disable-bsdtar --disable-bsdcat --disable-bsdcpio --disable-bsdunzip --disable-acl \
    --disable-xattr --without-xml2 --without-expat --without-nettle --without-openssl --without-mbedtls \
    --without-lz4 --without-lzo2 --without-libb2 --with-zlib --with-bz2lib --with-lzma --with-zstd
step make -j"$JOBS" libarchive.la
step make install-libLTLIBRARIES install-includeHEADERS install-pkgconfigDATA
licenses libarchive COPYING

say "cJSON"
fetch cjson
step "$CC" $CFLAGS -std=c89 -c cJSON.c -o cJSON.o
step ar rcs "$STAGE/lib/libcjson.a" cJSON.o
mkdir -p "$STAGE/include/cjson"
cp cJSON.h "$STAGE/include/cjson/"
cat >"$STAGE/lib/pkgconfig/libcjson.pc" <<EOF
prefix=$STAGE
Name: libcjson
Description: cJSON, built for the remotezoo wheel
Version: $(sed -n 's/^#define CJSON_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' cJSON.h | paste -sd.)
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/lib -lcjson
EOF
licenses cjson LICENSE

# zig links its compiler runtime (compiler_rt) into every binary it makes.
mkdir -p "$STAGE/licenses/zig"
cp "$ZIG_DIR/ziglang/LICENSE" "$STAGE/licenses/zig/"
cp "$PINS" "$STAGE/wheel-deps.txt"
say "built in $((SECONDS - started)) s"

# The .pc files name the staging directory; the prefix is its final place.
grep -rl "$STAGE" "$STAGE/lib/pkgconfig" | xargs sed -i "s|$STAGE|$PREFIX|g"
touch "$STAGE/.complete"
rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
echo "$PREFIX"
