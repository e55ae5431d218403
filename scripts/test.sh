#!/usr/bin/env bash
# The project's test command: installs what the tests need (moto and sops, into the
# gitignored .venv), then runs every test. Nothing is skipped: a test that needs moto or sops
# fails if they are missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/test-env.sh
cargo test --locked "$@"
