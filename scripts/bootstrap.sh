#!/usr/bin/env bash
# Installs what building, running and testing distillwatch needs and the
# machine may lack: PostgreSQL server binaries (15 or later); for the console's
# browser tests, Debian's chromium, chromium-driver and poppler-utils
# (pdftotext reads the printed case file); and, with --ci, sqlx-cli for
# `cargo sqlx prepare --check`. Safe to run again.
set -euo pipefail

have_postgres() {
    local d
    for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] && return 0
    done
    return 1
}

if ! have_postgres; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing PostgreSQL server binaries" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "bootstrap: PostgreSQL server binaries not found; install PostgreSQL 15+ (apt-get install postgresql-15)" >&2
        exit 1
    fi
fi
# The console's browser tests (tests/console_browser.rs): headless Chromium
# driven through chromedriver, and pdftotext for the PDF it prints.
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing chromium, chromium-driver and poppler-utils (browser tests)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver poppler-utils >/dev/null
    else
        echo "bootstrap: chromium, chromedriver or pdftotext not found; install Debian's chromium," \
            "chromium-driver and poppler-utils (the browser tests need them)" >&2
        exit 1
    fi
fi
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
fi

if [[ "${1:-}" == "--ci" ]] && ! cargo sqlx --version 2>/dev/null | grep -q "0.9.0"; then
    echo "bootstrap: installing sqlx-cli 0.9.0" >&2
    cargo install sqlx-cli --version 0.9.0 --no-default-features --features postgres,rustls --locked
fi

# Schema-driven API tests (scripts/schemathesis.sh): schemathesis, pinned, in
# a virtual environment of its own outside the checkout.
if [[ "${1:-}" == "--ci" ]]; then
    tools="${DW_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/distillwatch/tools}"
    venv="$tools/schemathesis"
    wanted=$(grep -E '^schemathesis==' "$(dirname "$0")/schemathesis/requirements.txt")
    if ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "$wanted"; then
        echo "bootstrap: installing $wanted" >&2
        mkdir -p "$tools"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$(dirname "$0")/schemathesis/requirements.txt"
    fi
fi

# Fuzzing (scripts/fuzz.sh): Debian's afl++ and cargo-afl (which builds AFL++'s
# runtime for this toolchain when it installs).
if [[ "${1:-}" == "--ci" ]]; then
    if ! command -v afl-fuzz >/dev/null; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            echo "bootstrap: installing afl++" >&2
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null
        else
            echo "bootstrap: afl-fuzz not found; install afl++ (apt-get install afl++)" >&2
            exit 1
        fi
    fi
    if ! cargo afl --version 2>/dev/null | grep -q "0.18.2"; then
        echo "bootstrap: installing cargo-afl 0.18.2" >&2
        cargo install cargo-afl --version 0.18.2 --locked
    fi
fi
