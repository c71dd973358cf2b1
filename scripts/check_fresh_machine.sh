#!/usr/bin/env bash
# Before a release: the README's two commands, exactly as README.md writes them, on newcomers'
# machines. For each system, a minimal Debian root (debootstrap --variant=minbase, plus python3,
# python3-venv, python3-pip, git, ca-certificates — what a person trying remotezoo has), a clean
# clone of HEAD in /root/remotezoo, and each command run there as root; prints the last lines of
# each and fails if any fails. Slow (debootstrap, then the install and the whole of .ci/run per
# system), so not part of .ci/run. Needs root; installs debootstrap when missing.
#
#   bash scripts/check_fresh_machine.sh                  # Debian 12 (bookworm), Debian 13 (trixie)
#   bash scripts/check_fresh_machine.sh bookworm         # one system
#
# RZ_FRESH_DIR (default /var/tmp/rz-fresh): where the roots and the logs (logs/<system>-<n>.log)
# go; RZ_FRESH_KEEP=1 keeps the roots afterwards; RZ_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

say() { printf 'check_fresh_machine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap and chroot)"
SYSTEMS=("$@")
[ ${#SYSTEMS[@]} -gt 0 ] || SYSTEMS=(bookworm trixie)
BASE=${RZ_FRESH_DIR:-/var/tmp/rz-fresh}
MIRROR=${RZ_MIRROR:-http://deb.debian.org/debian}
INCLUDE=python3,python3-venv,python3-pip,git,ca-certificates

COMMIT=$(git -C "$RZ_ROOT" rev-parse HEAD)
[ -z "$(git -C "$RZ_ROOT" status --porcelain --untracked-files=no)" ] \
    || say "uncommitted changes are not checked: the clone is of $COMMIT"
# The README's set-up commands, as that commit has them: the lines of its first ```bash block.
mapfile -t COMMANDS < <(git -C "$RZ_ROOT" show "$COMMIT:README.md" \
    | awk '/^```bash$/ { inside = 1; next } inside && /^```/ { exit } inside && NF')
[ ${#COMMANDS[@]} -eq 2 ] || die "expected two commands in README.md's first bash block, found ${#COMMANDS[@]}"

rz_apt_install debootstrap
mkdir -p "$BASE/logs" "$BASE/debs"

ROOTFS=""
# The mounts at or under the root, deepest first.
mounts() {
    awk -v r="$ROOTFS" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r
}
unmount() {
    [ -n "$ROOTFS" ] || return 0
    local m
    # Lazily, as a test's stray process may still hold a mount.
    for m in $(mounts); do umount -l "$m" 2>/dev/null || true; done
}
# Remove a root only once nothing is mounted under it (a bound /dev is the host's own).
remove_root() {
    unmount
    if [ -n "$(mounts)" ]; then
        say "still mounted under $ROOTFS; not removing it"
        return 1
    fi
    rm -rf --one-file-system "$ROOTFS"
}
cleanup() {
    [ -n "$ROOTFS" ] || return 0
    if [ "${RZ_FRESH_KEEP:-0}" = 0 ]; then remove_root || true; else unmount; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary=()
status=0
for system in "${SYSTEMS[@]}"; do
    ROOTFS=$BASE/$system
    remove_root
    say "$system: debootstrap (minbase + $INCLUDE)"
    started=$SECONDS
    debootstrap --variant=minbase --include="$INCLUDE" --cache-dir="$BASE/debs" \
        "$system" "$ROOTFS" "$MIRROR" >"$BASE/logs/$system-debootstrap.log" 2>&1 \
        || { tail -n 20 "$BASE/logs/$system-debootstrap.log" >&2; die "$system: debootstrap failed"; }
    # A stock install's package sources: the release, its updates and its security archive.
    cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $system main
deb $MIRROR $system-updates main
deb http://security.debian.org/debian-security $system-security main
EOF
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    # The network's own trust anchors (a TLS-inspecting proxy's CA, say) are the root's too, as
    # they are the host's: part of where the machine sits, not a step of the README.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
        chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
    fi
    # The root a mount point of its own, private: the tests make private mount namespaces
    # (unshare), which needs / to be one.
    mount --bind "$ROOTFS" "$ROOTFS"
    mount --make-private "$ROOTFS"
    mount -t proc proc "$ROOTFS/proc"
    mount -t sysfs sysfs "$ROOTFS/sys"
    mount --rbind /dev "$ROOTFS/dev"
    mount --make-rslave "$ROOTFS/dev"
    git clone -q "$RZ_ROOT" "$ROOTFS/root/remotezoo"
    git -C "$ROOTFS/root/remotezoo" checkout -q "$COMMIT"
    say "$system: ready in $((SECONDS - started)) s ($(chroot "$ROOTFS" python3 -V))"

    line="$system:"
    n=0
    for command in "${COMMANDS[@]}"; do
        n=$((n + 1))
        log=$BASE/logs/$system-$n.log
        say "$system: \$ $command"
        started=$SECONDS
        rc=0
        # As from a login shell: signals at their defaults even when this script runs in the
        # background (which ignores SIGINT), since the tests send Ctrl-C.
        env --default-signal=HUP,INT,QUIT chroot "$ROOTFS" \
            /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            /bin/bash -c "cd /root/remotezoo && $command" >"$log" 2>&1 || rc=$?
        took=$((SECONDS - started))
        tail -n 12 "$log" | sed "s/^/  $system $n | /"
        if [ "$rc" -eq 0 ]; then
            line+=" command $n ok (${took} s);"
        else
            line+=" command $n FAILED (exit $rc after ${took} s, $log);"
            status=1
            break
        fi
    done
    summary+=("$line")
    cleanup
done

say "commit $COMMIT"
for line in "${summary[@]}"; do say "$line"; done
exit $status
