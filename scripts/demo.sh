#!/usr/bin/env bash
# The demo: bash scripts/demo.sh ["your own prompt"]
#
# Installs acphost into .venv (if needed), makes a fresh sample project in a temporary folder,
# and lets the built-in demo agent work on it with every permission allowed:
#   acphost run --agent demo --cwd <demo>/project --store <demo>/acphost.db --allow "..."
# Arguments replace the default prompt. The demo folder is kept so you can look at it; its
# store holds the conversation (your own store, ~/.local/share/acphost, is not touched).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"

if ! [[ -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    python=""
    for candidate in python3 python3.11 python3.12 python3.13; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null; then
            python="$candidate"
            break
        fi
    done
    [[ -n "$python" ]] || { echo "demo: no python3 >= 3.11 with the venv module found" >&2; exit 1; }
    echo "demo: creating .venv with $("$python" --version 2>&1)" >&2
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml changed (scripts/test.sh's install, with dev extras, counts).
stamp="$VENV/.acphost-install"
hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if ! [[ -f "$stamp" && "$(cut -d' ' -f1 "$stamp")" == "$hash" ]]; then
    echo "demo: pip install -e ." >&2
    log="$VENV/pip-install.log"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e . >"$log" 2>&1
    then
        grep -v 'is ignored: it is neither' "$log" | tail -n 40 >&2
        echo "demo: pip install failed (log: $log)" >&2
        exit 1
    fi
    echo "$hash" >"$stamp"
fi

# A small sample project and a store of its own, new on every run.
DEMO="$(mktemp -d "${TMPDIR:-/tmp}/acphost-demo.XXXXXX")"
WS="$DEMO/project"
STORE="$DEMO/acphost.db"
mkdir "$WS"
cat >"$WS/README.md" <<'EOF'
# Tiny Tally

A command-line tool that counts words in text files.

Usage: `python main.py FILE...`
EOF
cat >"$WS/main.py" <<'EOF'
"""Count the words in each file given on the command line."""

import sys


def count_words(text: str) -> int:
    return len(text.split())


def main(paths: list[str]) -> int:
    total = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            n = count_words(f.read())
        print(f"{n:8} {path}")
        total += n
    if len(paths) > 1:
        print(f"{total:8} total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
EOF
cat >"$WS/notes.txt" <<'EOF'
TODO
- handle files that are not UTF-8
- add a --lines option
EOF

echo "demo: sample project in $WS" >&2
if [[ $# -eq 0 ]]; then
    set -- "Summarise this project and leave notes"
fi

status=0
"$VENV/bin/acphost" run --agent demo --cwd "$WS" --store "$STORE" --allow "$@" || status=$?

echo >&2
echo "demo: the sample project is kept in $WS:" >&2
ls -la "$WS" >&2
echo "demo: its conversation is stored in $STORE; to go on with it:" >&2
echo "  $VENV/bin/acphost chat --continue ID --store $STORE   (ID: the conversation above)" >&2
exit "$status"
