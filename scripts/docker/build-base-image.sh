#!/usr/bin/env bash
# Build a local Debian bookworm base image with Python 3.11, for hosts that
# cannot pull images from a registry (CI, air-gapped builders).
#
#   scripts/docker/build-base-image.sh [--force] [IMAGE]
#
# IMAGE defaults to $GPU_SHARE_BASE_IMAGE or gpu-share-base:bookworm. The image
# is a `debootstrap --variant=minbase` root with python3, python3-venv,
# python3-pip and ca-certificates, turned into an image with `docker import`.
# An existing image is kept (the build takes about a minute) unless --force.
# Needs root (debootstrap), a running Docker engine, and deb.debian.org
# (override with DEBIAN_MIRROR).
set -euo pipefail

force=0
if [[ "${1:-}" == "--force" ]]; then
    force=1
    shift
fi
image="${1:-${GPU_SHARE_BASE_IMAGE:-gpu-share-base:bookworm}}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="bookworm"

log() { printf '[base-image] %s\n' "$*" >&2; }

if [[ $force -eq 0 ]] && docker image inspect "$image" >/dev/null 2>&1; then
    log "$image already exists (use --force to rebuild)"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    log "debootstrap needs root: run this script as root (or with sudo)"
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

rootfs="$(mktemp -d /tmp/gpu-share-rootfs.XXXXXX)"
# The rootfs holds device nodes and root-owned files: always remove it.
trap 'rm -rf --one-file-system "$rootfs"' EXIT

log "debootstrap $suite (minbase + python3) into $rootfs from $mirror"
start=$SECONDS
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    log "debootstrap failed; last lines of its log:"
    tail -n 30 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    exit 1
}
rm -f "$rootfs.log"
log "debootstrap done in $((SECONDS - start)) s"

# Keep the image small: package lists and caches are rebuilt by any later apt-get update.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" \
    >"$rootfs/etc/apt/sources.list"

log "importing as $image"
tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$image" >/dev/null
log "$image ready ($(docker image inspect --format '{{.Size}}' "$image") bytes)"
