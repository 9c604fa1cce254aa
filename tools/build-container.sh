#!/usr/bin/env bash
# Build the inuprep image from the repository's Dockerfile and write it as a docker-archive, which
# `docker load`, `podman load` and `apptainer build inuprep.sif docker-archive://FILE` take.
#
#   tools/build-container.sh TAG ARCHIVE [ENGINE BUILD OPTIONS, e.g. --build-arg FETCH_MODELS=0]
#
# Uses buildah (no daemon; chroot isolation) when it is installed, else docker. With buildah, a host whose
# pip is configured with a CA bundle or a find-links folder (PIP_CERT / PIP_FIND_LINKS, or pip config)
# lends them to the build's RUN steps through read-only mounts: they never enter the image or the Dockerfile.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 TAG ARCHIVE [BUILD OPTIONS]" >&2; exit 2; }
tag=$1 archive=$2
shift 2
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
mkdir -p "$(dirname "$archive")"
start=$(date +%s)

if command -v buildah >/dev/null; then
    pip_config() { { python3 -m pip config list 2>/dev/null || true; } | sed -n "s/^global\.$1='\(.*\)'\$/\1/p"; }
    cert=${PIP_CERT:-$(pip_config cert)}
    links=${PIP_FIND_LINKS:-$(pip_config find-links)}
    host=$(mktemp -d)  # mounted at /run/pip-host for the RUN steps; only that empty folder stays behind
    trap 'rm -rf "$host"' EXIT
    mounts=(--volume "$host:/run/pip-host:ro") conf="[global]"
    if [ -f "$cert" ]; then
        cp "$cert" "$host/ca.crt"
        conf+=$'\ncert = /run/pip-host/ca.crt'
    fi
    if [ -d "$links" ]; then
        mkdir "$host/wheels"
        mounts+=(--volume "$links:/run/pip-host/wheels:ro")
        conf+=$'\nfind-links = /run/pip-host/wheels'
    fi
    printf '%s\n' "$conf" >"$host/pip.conf"
    mounts+=(--build-arg PIP_CONFIG_FILE=/run/pip-host/pip.conf)
    buildah bud --isolation chroot --network host --layers --build-arg "VERSION=$version" \
        "${mounts[@]}" --tag "$tag" "$@" .
    rm -f "$archive"
    buildah push --quiet "$tag" "docker-archive:$archive:$tag"
elif command -v docker >/dev/null; then
    docker build --build-arg "VERSION=$version" --tag "$tag" "$@" .
    docker save --output "$archive" "$tag"
else
    echo "build-container: neither buildah nor docker is installed (Debian: apt-get install buildah)" >&2
    exit 2
fi
echo "built $tag in $(($(date +%s) - start)) s; archive $archive ($(du -h "$archive" | cut -f1))"
