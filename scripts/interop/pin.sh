#!/usr/bin/env bash
# Pins one client family of scripts/interop.sh: installs the named packages
# into a scratch venv, freezes what pip resolved, downloads each pinned
# artifact again and writes scripts/interop/NAME.txt with its sha256, so that
# interop.sh installs exactly those bytes (--require-hashes --no-deps).
#
#   scripts/interop/pin.sh NAME [pip install arguments...]
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$@"
"$work/venv/bin/pip" freeze --all --exclude pip --exclude setuptools | sort >"$work/frozen.txt"
"$work/venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$work/dl" -r "$work/frozen.txt"
{
    echo "# scripts/interop.sh: $name, every package pinned by version and sha256."
    echo "# Made by: scripts/interop/pin.sh $name $*"
    while read -r line; do
        package=${line%%==*}
        version=${line#*==}
        # The artifact pip downloaded for it (names normalise - . _ alike, case aside).
        pattern=$(echo "$package" | tr 'A-Z' 'a-z' | sed 's/[-_.]/[-_.]/g')
        file=$(find "$work/dl" -maxdepth 1 -type f | grep -iE "/${pattern}-${version//./\\.}[-.]" | head -1)
        [[ -n "$file" ]] || { echo "no artifact for $line" >&2; exit 1; }
        echo "$line --hash=sha256:$(sha256sum "$file" | cut -d' ' -f1)"
    done <"$work/frozen.txt"
} >"scripts/interop/$name.txt"
wc -l "scripts/interop/$name.txt"
