#!/usr/bin/env bash
# A local stand-in for the Dockerfile's default base (python:3.11-slim-bookworm) on a machine that reaches
# Debian's archive but no image registry: Debian bookworm (debootstrap minbase) with its Python 3.11, venv
# and CA certificates, imported into buildah's storage as TAG. Kept once built.
#   .ci/local-base.sh [TAG]      then: make container BASE=TAG
set -euo pipefail
tag=${1:-localhost/inuprep-base:bookworm}
if buildah inspect --type image "$tag" >/dev/null 2>&1; then
    echo "$tag: already built"
    exit 0
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
ctr=$(buildah from scratch)
cp -a "$rootfs/." "$(buildah mount "$ctr")/"
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
buildah commit --quiet --rm "$ctr" "$tag" >/dev/null
echo "$tag: built"
