#!/usr/bin/env bash
# Install the Debian packages the tests drive for real, when they are missing:
#   prometheus (promtool), prometheus-alertmanager (amtool), softhsm2 (a real PKCS#11 token).
# Idempotent: a machine that has them installs nothing. Needs root (or sudo) and apt-get.
set -euo pipefail
declare -A wanted=([promtool]=prometheus [amtool]=prometheus-alertmanager [softhsm2-util]=softhsm2)
missing=()
for tool in "${!wanted[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${wanted[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: install these packages with your system's package manager: ${missing[*]}" >&2
    exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "system-deps: run as root or install: ${missing[*]}" >&2; exit 1; }
    as_root=(sudo)
fi
echo "system-deps: installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { "${as_root[@]}" apt-get update -q >/dev/null && "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
