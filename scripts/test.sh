#!/usr/bin/env bash
# The test command: bash scripts/test.sh [pytest args...]
#
# Idempotent. Creates .venv (Python >= 3.11) if missing, installs acphost with its dev extras,
# installs the pinned real agents (best effort: tests needing a missing agent skip, saying why),
# then runs, stopping at the first failure:
#   ruff check · ruff format --check · mypy · API breakage checks · reference docs · pytest "$@"
#   · the SDK's next major: mypy and the tests of the typed models again, in .venv-sdk1 with
#     agent-client-protocol $SDK_NEXT (acphost supports 0.12, which .venv has, and 1.0)
# e.g. bash scripts/test.sh -k fast_agent -x
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
VENV="$ROOT/.venv"

say() { printf '\n==> %s\n' "$*"; }
die() {
    printf '\nFAILED at step: %s\n' "$1" >&2
    exit "${2:-1}"
}

# --- environment ---------------------------------------------------------------------------------

find_python() {
    local candidate
    for candidate in python3 python3.11 python3.12 python3.13; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        return 0
    fi
    local python
    python="$(find_python)" || die "venv (no python3 >= 3.11 with the venv module found)"
    say "creating .venv with $("$python" --version 2>&1)"
    rm -rf "$VENV"
    "$python" -m venv "$VENV" || die "venv"
}

# Reinstall only when pyproject.toml changed (the install is editable: source edits need none).
install_project() {
    local stamp="$VENV/.acphost-install" want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) dev"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    say "pip install -e '.[dev]'"
    local log="$VENV/pip-install.log"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e '.[dev]' >"$log" 2>&1; then
        grep -v 'is ignored: it is neither' "$log" | tail -n 40 >&2
        die "pip install -e '.[dev]' (log: $log)"
    fi
    echo "$want" >"$stamp"
}

# The official SDK's next major (1.0 release candidates): acphost must work with it and 0.12.
SDK_NEXT="1.0.0rc3"
SDK_VENV="$ROOT/.venv-sdk1"
SDK_TESTS=(tests/test_lazy_import.py tests/test_messages.py tests/test_client.py
    tests/test_jsonrpc.py tests/test_fake_agent.py tests/test_conversation.py
    tests/test_asking_mode.py tests/test_toolcalls.py tests/test_resume.py
    tests/test_protocol_wire.py)

# .venv-sdk1: acphost (editable) with the SDK's next major; rebuilt when either changed.
ensure_sdk_venv() {
    local stamp="$SDK_VENV/.acphost-install" want log="$SDK_VENV/pip-install.log"
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $SDK_NEXT"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    say "creating .venv-sdk1 (agent-client-protocol==$SDK_NEXT)"
    rm -rf "$SDK_VENV"
    "$VENV/bin/python" -m venv "$SDK_VENV" &&
        "$SDK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e '.[dev]' "agent-client-protocol==$SDK_NEXT" >"$log" 2>&1 || {
        grep -v 'is ignored: it is neither' "$log" | tail -n 40 >&2
        return 1
    }
    echo "$want" >"$stamp"
}

ensure_venv
install_project

# The real agents live in this project's .cache/agents: the install below and the tests use it.
export ACPHOST_AGENTS_DIR="${ACPHOST_AGENTS_DIR:-$ROOT/.cache/agents}"
say "installing real agents (best effort)"
if ! bash scripts/install-agents.sh; then
    echo "(some agents could not be installed; the tests that need them will be skipped)" >&2
fi

# --- checks ----------------------------------------------------------------------------------

run_step() { # name command...
    local name="$1"
    shift
    say "$name"
    "$@"
    local rc=$?
    [[ $rc -eq 0 ]] || die "$name" "$rc"
}

export PATH="$VENV/bin:$PATH"
run_step "ruff check" ruff check src tests
run_step "ruff format --check" ruff format --check src tests
run_step "mypy" mypy
run_step "API breakage checks" python scripts/check_api.py
run_step "reference docs (mkdocs build --strict: site/)" mkdocs build --strict --quiet
run_step "web console (lint, unit tests, bundle up to date)" bash scripts/web.sh
run_step "pytest" pytest -m "not ray" "$@"
# Ray binds the machine's interface unless it has none: its tests run in a loopback-only
# network namespace (needs root; see docs/jobs.md).
ray_tests() {
    unshare -n bash -c 'ip link set lo up; exec "$0" -m ray "$@"' "$VENV/bin/pytest" "$@"
    local rc=$?
    [[ $rc -eq 5 ]] && return 0 # the arguments selected no Ray test
    return $rc
}
run_step "pytest (Ray)" ray_tests "$@"
run_step ".venv-sdk1 (agent-client-protocol $SDK_NEXT)" ensure_sdk_venv
run_step "mypy with agent-client-protocol $SDK_NEXT" \
    "$SDK_VENV/bin/mypy" --cache-dir .mypy_cache/sdk1
run_step "the SDK's typed models with agent-client-protocol $SDK_NEXT" \
    "$SDK_VENV/bin/pytest" -q -p no:cacheprovider "${SDK_TESTS[@]}"
say "all checks passed"
