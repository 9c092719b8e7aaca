#!/usr/bin/env bash
# Installs what the benchmark peers need, idempotently (a second run changes nothing):
#   benchmarks/.venv-openhands  Python 3.12 venv with openhands-sdk (OpenHands ACPAgent) + orjson
#   benchmarks/.venv-tools      (with --profile) py-spy, for profile_acphost.py --py-spy
# The acphost, bare-SDK and orjson-loop drivers use the project's own environment (acphost
# installed, which brings agent-client-protocol and orjson): scripts/test.sh makes .venv.
#
#   OPENHANDS_PYTHON=/path/to/python3.12  use this interpreter for the venv
#   OPENHANDS_VERSION=1.58.0              the openhands-sdk release to install (pinned so that
#                                         runs compare like with like)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

version="${OPENHANDS_VERSION:-1.58.0}"
venv=".venv-openhands"

if [ "${1:-}" = "--profile" ]; then
    if [ -x .venv-tools/bin/py-spy ]; then
        echo "benchmarks/.venv-tools: py-spy already installed"
    else
        python3 -m venv .venv-tools
        .venv-tools/bin/python -m pip install --quiet --disable-pip-version-check py-spy
        echo "benchmarks/.venv-tools: py-spy installed"
    fi
fi

find_python() {
    local candidate
    for candidate in "${OPENHANDS_PYTHON:-}" "$(command -v python3.12 || true)" \
        "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 \
        /usr/local/bin/python3.12 /usr/bin/python3.12; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] \
            && "$candidate" -c 'import sys, venv; assert sys.version_info[:2] >= (3, 12)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

installed() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$version" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
assert version("openhands-sdk") == sys.argv[1]
import orjson  # noqa: F401
PY
}

if installed; then
    echo "benchmarks/$venv: openhands-sdk $version already installed"
else
    if [ ! -x "$venv/bin/python" ]; then
        python="$(find_python)" || {
            echo "setup.sh: no Python >= 3.12 found (openhands-sdk needs it); set OPENHANDS_PYTHON" >&2
            exit 1
        }
        echo "creating benchmarks/$venv with $python"
        "$python" -m venv "$venv"
    fi
    echo "installing openhands-sdk $version into benchmarks/$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "openhands-sdk==$version" orjson
    installed || { echo "setup.sh: openhands-sdk $version did not install" >&2; exit 1; }
fi

# The host drivers: tell (do not install into someone else's environment) if acphost is missing.
for python in "${ACPHOST_BENCH_PYTHON:-}" ../.venv/bin/python python3; do
    if [ -n "$python" ] && command -v "$python" >/dev/null 2>&1 \
        && "$python" -c 'import acphost, acp, orjson' 2>/dev/null; then
        echo "host drivers: $python has acphost"
        exit 0
    fi
done
echo "note: no interpreter with acphost found; run scripts/test.sh (makes .venv) or pip install -e ." >&2
