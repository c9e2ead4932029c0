#!/usr/bin/env bash
# Install everything TARS needs on a Debian machine with Python 3.11, then run a job.
#
#   bash scripts/setup.sh up     install, then run the whole stack (tars up)
#   bash scripts/setup.sh test   install, then run every check and test (the CI command)
#   bash scripts/setup.sh        install only
#
# Idempotent: a second run only checks that everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium + fonts-liberation: the web UI's browser tests (Playwright drives Debian's Chromium;
# it never downloads a browser of its own). ejabberd: a second MQTT v5 broker (its mod_mqtt)
# the bus tests also run on, started by a test fixture, never as a system service.
apt_packages=(mosquitto mosquitto-clients espeak-ng sox libportaudio2 make openssl chromium fonts-liberation ejabberd)

install_system_packages() {
    local missing=()
    for package in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "[setup] installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    # The Debian packages start system-wide brokers (mosquitto and ejabberd both take port 1883);
    # TARS and its tests run their own.
    if command -v systemctl >/dev/null 2>&1; then
        $sudo systemctl disable --now mosquitto ejabberd >/dev/null 2>&1 || true
    fi
}

install_uv() {
    if command -v uv >/dev/null 2>&1; then return 0; fi
    echo "[setup] installing uv"
    python3 -m pip install --quiet --disable-pip-version-check uv
    # pip puts the uv binary in the interpreter's scripts folder, which is not always on PATH
    # (pyenv shims, --user installs): add it for this script and the job it runs.
    local scripts
    scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
    export PATH="$PATH:$scripts:$(python3 -m site --user-base)/bin"
    command -v uv >/dev/null 2>&1 || { echo "[setup] uv installed but not found on PATH" >&2; exit 1; }
}

install_environment() {
    echo "[setup] syncing the locked environment (all services and models)"
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    uv sync --frozen --all-extras --quiet
}

install_system_packages
install_uv
install_environment

case "${1:-}" in
    up) shift; exec uv run tars up "$@" ;;
    test) shift; exec bash scripts/check.sh "$@" ;;
    "") echo "[setup] done: run 'uv run tars up' or 'bash scripts/check.sh'" ;;
    *) echo "usage: bash scripts/setup.sh [up|test]" >&2; exit 2 ;;
esac
