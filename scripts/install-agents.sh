#!/usr/bin/env bash
# Install the pinned real third-party ACP agents that the end-to-end tests drive.
#
#   bash scripts/install-agents.sh            # every agent below
#   bash scripts/install-agents.sh fast-agent # only the ones named
#
# Everything goes under .cache/agents/ in the project (gitignored). Each agent is skipped when
# its pinned version is already there; .cache/agents/versions.txt records what is installed.
# A failure is reported and the script goes on with the next agent; it exits non-zero if any
# agent failed, so callers that treat agents as optional should say `|| true`.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTS_DIR="${ACPHOST_AGENTS_DIR:-$ROOT/.cache/agents}"
VERSIONS="$AGENTS_DIR/versions.txt"

FAST_AGENT_VERSION="0.10.46"
# Pinned for later; not installed yet (see REAL_AGENTS.md).
CLAUDE_AGENT_ACP_VERSION="0.49.0"
CODEX_ACP_VERSION="2.6.0"
KIMI_CLI_VERSION="1.52.0"

log() { printf '[install-agents] %s\n' "$*" >&2; }

record_version() { # name version
    mkdir -p "$AGENTS_DIR"
    local tmp="$VERSIONS.tmp"
    { grep -v "^$1 " "$VERSIONS" 2>/dev/null || true; echo "$1 $2"; } | sort >"$tmp"
    mv "$tmp" "$VERSIONS"
}

# A Python >= 3.12 (3.13 preferred): fast-agent and kimi need it; 3.11 only sees old releases.
find_python() {
    local candidate
    for candidate in \
        "$(command -v python3.13 2>/dev/null)" \
        "$HOME"/.pyenv/versions/3.13*/bin/python3.13 \
        "$(command -v python3.12 2>/dev/null)" \
        "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
        [[ -n "$candidate" && -x "$candidate" ]] || continue
        # a pyenv shim exists even when that version is not selected: make sure it runs
        if "$candidate" -c 'import sys, venv; assert sys.version_info >= (3, 12)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# --- fast-agent (PyPI: fast-agent-mcp) ---------------------------------------------------------

install_fast_agent() {
    local dir="$AGENTS_DIR/fast-agent" venv="$AGENTS_DIR/fast-agent/venv" python have
    if [[ -x "$venv/bin/fast-agent" ]]; then
        have="$("$venv/bin/python" -c \
            'import importlib.metadata as m; print(m.version("fast-agent-mcp"))' 2>/dev/null)"
        if [[ "$have" == "$FAST_AGENT_VERSION" ]]; then
            log "fast-agent $have already installed"
            record_version fast-agent "$have"
            return 0
        fi
        log "fast-agent ${have:-?} found, want $FAST_AGENT_VERSION: reinstalling"
    fi
    if ! python="$(find_python)"; then
        log "fast-agent: no python3.13 or python3.12 found (3.11 only sees old releases)"
        return 1
    fi
    log "fast-agent $FAST_AGENT_VERSION into $venv (with $("$python" --version 2>&1))"
    rm -rf "$venv"
    mkdir -p "$dir"
    "$python" -m venv "$venv" || return 1
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check \
        "fast-agent-mcp==$FAST_AGENT_VERSION" >"$dir/install.log" 2>&1; then
        grep -v 'is ignored: it is neither' "$dir/install.log" | tail -n 20 >&2
        log "fast-agent: pip install failed (full log: $dir/install.log)"
        return 1
    fi
    "$venv/bin/fast-agent" --help >/dev/null 2>&1 || {
        log "fast-agent installed but does not run"
        return 1
    }
    record_version fast-agent "$FAST_AGENT_VERSION"
}

# --- placeholders: pinned in REAL_AGENTS.md, not installed yet ---------------------------------

install_claude_agent_acp() {
    # npm install --prefix "$AGENTS_DIR/claude-agent-acp" \
    #     "@agentclientprotocol/claude-agent-acp@$CLAUDE_AGENT_ACP_VERSION"
    log "claude-agent-acp $CLAUDE_AGENT_ACP_VERSION: not installed yet"
}

install_codex_acp() {
    # npm install --prefix "$AGENTS_DIR/codex-acp" "@agentclientprotocol/codex-acp@$CODEX_ACP_VERSION"
    log "codex-acp $CODEX_ACP_VERSION: not installed yet"
}

install_kimi() {
    # a Python 3.13 venv at "$AGENTS_DIR/kimi/venv" with kimi-cli==$KIMI_CLI_VERSION
    log "kimi-cli $KIMI_CLI_VERSION: not installed yet"
}

# ------------------------------------------------------------------------------------------------

ALL=(fast-agent)
selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${ALL[@]}")

failed=()
for name in "${selected[@]}"; do
    case "$name" in
        fast-agent) install_fast_agent || failed+=("$name") ;;
        claude-agent-acp) install_claude_agent_acp || failed+=("$name") ;;
        codex-acp) install_codex_acp || failed+=("$name") ;;
        kimi) install_kimi || failed+=("$name") ;;
        *)
            log "unknown agent: $name (known: fast-agent claude-agent-acp codex-acp kimi)"
            failed+=("$name")
            ;;
    esac
done

if [[ ${#failed[@]} -gt 0 ]]; then
    log "FAILED: ${failed[*]} (tests needing them will be skipped)"
    exit 1
fi
exit 0
