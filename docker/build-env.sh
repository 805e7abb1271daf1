#!/bin/sh
# Build-time helper shared by backend/Dockerfile and research/Dockerfile.benchmark.
# Files come from /opt/gpu-share-build (copied by the Dockerfiles):
#
#   build-env.sh python            extra CA certificates, the /opt/venv virtualenv,
#                                  a current pip, and any wheels/*.whl
#   build-env.sh deps EXTRA...     the requirements of those pyproject extras
#   build-env.sh requirements FILE a requirements file, when it lists anything
#
# The virtualenv sees the base image's packages (--system-site-packages), so the
# torch that a CUDA PyTorch base image ships is used as is and never downloaded.
set -eu

build=/opt/gpu-share-build
venv="${VIRTUAL_ENV:-/opt/venv}"
bundle=/etc/ssl/certs/ca-certificates.crt

log() { printf '[build-env] %s\n' "$*"; }

find_python() {
    for candidate in python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    log "the base image has no python3: use a base with Python >= 3.11" >&2
    return 1
}

install_certs() {
    # Builds behind a TLS-inspecting proxy need its CA: every *.crt in certs/ is
    # added to the system store, and the images point pip, requests, httpx and
    # OpenSSL at that store (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, PIP_CERT).
    found=0
    for crt in "$build"/certs/*.crt; do
        [ -f "$crt" ] || continue
        found=1
        mkdir -p /usr/local/share/ca-certificates/gpu-share
        cp "$crt" /usr/local/share/ca-certificates/gpu-share/
        log "extra CA certificate: $(basename "$crt")"
    done
    if command -v update-ca-certificates >/dev/null 2>&1; then
        update-ca-certificates >/dev/null 2>&1 || log "update-ca-certificates failed"
    fi
    if [ ! -s "$bundle" ]; then
        # No system store (a base without ca-certificates): build one from the
        # Mozilla bundle that pip vendors, plus the extra certificates.
        mkdir -p "$(dirname "$bundle")"
        "$1" -c 'import pip._vendor.certifi as c; print(open(c.where()).read())' >"$bundle"
        if [ "$found" -eq 1 ]; then
            cat "$build"/certs/*.crt >>"$bundle"
        fi
        log "built $bundle from pip's certifi bundle"
    fi
}

case "${1:-}" in
python)
    py="$(find_python)"
    "$py" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' || {
        log "the base image's Python is older than 3.11" >&2
        exit 1
    }
    install_certs "$py"
    "$py" -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    set -- "$build"/wheels/*.whl
    if [ -f "$1" ]; then
        log "installing local wheels: $(cd "$build/wheels" && echo *.whl)"
        "$venv/bin/python" -m pip install --quiet "$@"
    fi
    "$venv/bin/python" -c 'import sys; print("[build-env] python", sys.version.split()[0])'
    ;;
deps)
    shift
    [ "$#" -gt 0 ] || { log "deps: name at least one pyproject extra" >&2; exit 2; }
    "$venv/bin/python" "$build/pyproject_deps.py" "$build/pyproject.toml" "$@" \
        >"$build/requirements-$1.txt"
    log "installing extras $*: $(tr '\n' ' ' <"$build/requirements-$1.txt")"
    "$venv/bin/python" -m pip install --quiet -r "$build/requirements-$1.txt"
    ;;
requirements)
    file="${2:?requirements: name a file}"
    if grep -qvE '^[[:space:]]*(#|$)' "$file"; then
        log "installing $file"
        "$venv/bin/python" -m pip install --quiet -r "$file"
    else
        log "$file lists no packages"
    fi
    ;;
*)
    log "usage: build-env.sh python | deps EXTRA... | requirements FILE" >&2
    exit 2
    ;;
esac
