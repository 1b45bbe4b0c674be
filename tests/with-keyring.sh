#!/usr/bin/env bash
# Run a command with the real OS keyring: a private D-Bus session with gnome-keyring's Secret
# Service unlocked, under a throwaway HOME so no developer keyring or config is touched.
# The command's exit code is passed through.
set -euo pipefail
if [[ $# -eq 0 ]]; then
    echo "usage: tests/with-keyring.sh COMMAND [ARGS...]" >&2
    exit 64
fi
command -v dbus-run-session >/dev/null || { echo "with-keyring: dbus-run-session is missing (apt-get install dbus)" >&2; exit 3; }
command -v gnome-keyring-daemon >/dev/null || { echo "with-keyring: gnome-keyring-daemon is missing (apt-get install gnome-keyring)" >&2; exit 3; }

keyring_home=$(mktemp -d -t lmdoctor-keyring-XXXXXX)
trap 'rm -rf "$keyring_home"' EXIT
export LMDOCTOR_REAL_HOME="$HOME"
export HOME="$keyring_home"
export XDG_CONFIG_HOME="$keyring_home/.config" XDG_DATA_HOME="$keyring_home/.local/share"
# The unlock password only protects this throwaway keyring; it is not a credential.
dbus-run-session -- bash -c '
    echo -n lmdoctor-test-keyring | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec "$@"' with-keyring "$@"
