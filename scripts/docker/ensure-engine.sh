#!/usr/bin/env bash
# Make a Docker engine and a Compose command available on a Debian host.
#
#   scripts/docker/ensure-engine.sh
#
# - If `docker info` already answers (a running engine, or DOCKER_HOST pointing at
#   one), nothing is installed or started.
# - Otherwise, as root: installs Debian's docker.io and docker-compose packages
#   when dockerd or a Compose command is missing, starts dockerd in the background
#   (log: $DOCKERD_LOG, default /var/log/gpu-share-dockerd.log) and waits up to
#   $DOCKERD_WAIT seconds (default 90) for it to answer.
# Exit status 0 means `docker info` works and a Compose command exists; the last
# line printed on stdout is that command (`docker compose` or `docker-compose`).
set -euo pipefail

log() { printf '[docker-engine] %s\n' "$*" >&2; }
wait_s="${DOCKERD_WAIT:-90}"
dockerd_log="${DOCKERD_LOG:-/var/log/gpu-share-dockerd.log}"

compose_cmd() {
    if docker compose version >/dev/null 2>&1; then
        echo "docker compose"
    elif command -v docker-compose >/dev/null 2>&1; then
        echo "docker-compose"
    fi
}

engine_up() { docker info >/dev/null 2>&1; }

need_install=0
command -v docker >/dev/null 2>&1 || need_install=1
if ! engine_up; then
    command -v dockerd >/dev/null 2>&1 || need_install=1
fi
[[ -n "$(compose_cmd)" ]] || need_install=1

if [[ $need_install -eq 1 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        log "Docker or Compose is missing and installing it needs root:"
        log "  sudo apt-get install docker.io docker-compose   (or Docker's own packages)"
        exit 1
    fi
    log "installing docker.io and docker-compose from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        docker.io docker-compose iptables ca-certificates >/dev/null
fi

if ! engine_up; then
    if [[ -n "${DOCKER_HOST:-}" ]]; then
        log "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local dockerd"
        exit 1
    fi
    if [[ $(id -u) -ne 0 ]]; then
        log "no Docker engine answers and starting dockerd needs root:"
        log "  sudo systemctl start docker   (or: sudo dockerd &)"
        exit 1
    fi
    log "starting dockerd (log: $dockerd_log)"
    # setsid: the engine must outlive the shell (and the test) that started it.
    setsid dockerd >"$dockerd_log" 2>&1 </dev/null &
    deadline=$((SECONDS + wait_s))
    until engine_up; do
        if [[ $SECONDS -ge $deadline ]]; then
            log "dockerd did not answer within ${wait_s} s; last lines of its log:"
            tail -n 20 "$dockerd_log" >&2 || true
            exit 1
        fi
        sleep 1
    done
    log "dockerd is up"
fi

compose="$(compose_cmd)"
if [[ -z "$compose" ]]; then
    log "no Compose command found (need 'docker compose' or 'docker-compose')"
    exit 1
fi
log "engine $(docker version --format '{{.Server.Version}}'), compose: $compose"
echo "$compose"
