#!/usr/bin/env bash
# Installs what the build and the tests need on a Debian 12 machine (as root).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

apt_wanted=$(grep -vE '^\s*(#|$)' "$here/deps/apt.txt")
missing=()
for p in $apt_wanted; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

py=${PYTHON:-python3}
if ! "$py" -m pip install -q --disable-pip-version-check -r "$here/deps/requirements.txt"; then
  echo "install-deps: pip install failed" >&2
  exit 1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: cargo install cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
