#!/usr/bin/env bash
# Stages the build context of the gateway's image (see the Containerfile at the root of
# the repository): the static binary, the host's CA bundle, a user and group 65532,
# the shipped config made to listen on every interface and to keep its state in
# /var/lib/switchboard, and the directories the gateway writes, owned by that user.
#
#   deploy/image/stage.sh BINARY CONTEXT_DIR
#
# Refuses a binary that is not statically linked: the image has no C library.
set -euo pipefail
bin=$1
ctx=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if ! file -L "$bin" | grep -q "static"; then
    echo "$bin is not a statically linked executable (see .cargo/config.toml)" >&2
    exit 1
fi
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "no CA bundle at $ca (Debian: ca-certificates)" >&2; exit 1; }

rm -rf "$ctx"
# /dev and /proc are where a container runtime mounts its own.
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/etc/switchboard" \
    "$ctx/rootfs/dev" "$ctx/rootfs/proc" \
    "$ctx/writable/var/lib/switchboard" "$ctx/writable/var/cache/switchboard" "$ctx/writable/tmp"
cp "$bin" "$ctx/rootfs/usr/local/bin/switchboard"
cp "$ca" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
cp "$here/passwd" "$here/group" "$here/nsswitch.conf" "$ctx/rootfs/etc/"
# The shipped config: every interface for the API and admin listeners (the demo provider
# stays on loopback), state under /var/lib/switchboard.
sed -e 's/^listen = "127\.0\.0\.1:\(8080\|9090\)"/listen = "0.0.0.0:\1"/' \
    -e 's#sqlite_path = "state/#sqlite_path = "/var/lib/switchboard/#' \
    "$repo/config.toml" > "$ctx/rootfs/etc/switchboard/config.toml"
cp "$repo/Containerfile" "$ctx/Containerfile"
echo "staged $ctx"
