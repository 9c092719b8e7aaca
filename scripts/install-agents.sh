#!/usr/bin/env bash
# Install the pinned real third-party ACP agents that the end-to-end tests drive.
#
#   bash scripts/install-agents.sh                 # every agent below
#   bash scripts/install-agents.sh kimi codex-acp  # only the ones named
#
#   fast-agent        PyPI fast-agent-mcp, in a Python >= 3.12 venv
#   claude-agent-acp  npm @agentclientprotocol/claude-agent-acp (bundles the Claude Code binary)
#   codex-acp         npm @agentclientprotocol/codex-acp (bundles the codex binary)
#   kimi              PyPI kimi-cli, in a Python 3.13 venv
#
# Everything goes under .cache/agents/ in the project (gitignored), or $ACPHOST_AGENTS_DIR,
# which is also where acphost's registry looks first. Each agent is skipped when its pinned
# version is already there; .cache/agents/versions.txt records what is installed. The npm
# packages' native binaries are run once (--version, offline) to prove they work here.
# A failure is reported and the script goes on with the next agent; it exits non-zero if any
# agent failed, so callers that treat agents as optional should say `|| true`.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTS_DIR="${ACPHOST_AGENTS_DIR:-$ROOT/.cache/agents}"
VERSIONS="$AGENTS_DIR/versions.txt"

FAST_AGENT_VERSION="0.10.46"
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
# `find_python 3.13` accepts only 3.13.
find_python() {
    local only="${1:-}" candidate
    local -a candidates=("$(command -v python3.13 2>/dev/null)" "$HOME"/.pyenv/versions/3.13*/bin/python3.13)
    [[ -n "$only" ]] || candidates+=("$(command -v python3.12 2>/dev/null)" "$HOME"/.pyenv/versions/3.12*/bin/python3.12)
    for candidate in "${candidates[@]}"; do
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

# --- npm agents: each in its own prefix, bundling its native binary ---------------------------

# npm_agent NAME PACKAGE VERSION ENTRY: install PACKAGE@VERSION under $AGENTS_DIR/NAME and check
# that ENTRY (relative to the package) exists and that the bundled native binary runs offline.
npm_agent() {
    local name="$1" package="$2" version="$3" entry="$4"
    local prefix="$AGENTS_DIR/$name" have
    local pkgjson="$prefix/node_modules/$package/package.json"
    if ! command -v npm >/dev/null 2>&1; then
        log "$name: npm not found (install Node.js >= 20)"
        return 1
    fi
    have="$(node -p "require('$pkgjson').version" 2>/dev/null)"
    if [[ "$have" == "$version" && -f "$prefix/node_modules/$package/$entry" ]]; then
        log "$name $have already installed"
        record_version "$name" "$have"
        return 0
    fi
    log "$name: npm install $package@$version into $prefix"
    mkdir -p "$prefix"
    if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
        "$package@$version" >"$prefix/install.log" 2>&1; then
        tail -n 20 "$prefix/install.log" >&2
        log "$name: npm install failed (full log: $prefix/install.log)"
        return 1
    fi
    if [[ ! -f "$prefix/node_modules/$package/$entry" ]]; then
        log "$name: $package installed but $entry is missing"
        return 1
    fi
    record_version "$name" "$version"
}

# check_native NAME BINARY: the bundled native binary must run here, offline.
check_native() {
    local out
    if ! out="$(timeout 60 "$2" --version 2>&1 </dev/null)"; then
        log "$1: the bundled $2 does not run: ${out:0:300}"
        return 1
    fi
    log "$1 bundles $2 ($out)"
}

install_claude_agent_acp() {
    npm_agent claude-agent-acp @agentclientprotocol/claude-agent-acp \
        "$CLAUDE_AGENT_ACP_VERSION" dist/index.js || return 1
    # The package bundles Claude Code as a per-platform native binary (optional dependency):
    # make sure the one for this platform arrived and runs (--version needs no network).
    local claude
    claude="$(find "$AGENTS_DIR/claude-agent-acp/node_modules" -path '*claude-agent-sdk*' \
        \( -name claude -o -name 'claude.exe' -o -name cli.js \) -type f 2>/dev/null | head -n 1)"
    if [[ -z "$claude" ]]; then
        log "claude-agent-acp: no bundled Claude Code found under node_modules"
        return 1
    fi
    check_native claude-agent-acp "$claude"
}

install_codex_acp() {
    npm_agent codex-acp @agentclientprotocol/codex-acp "$CODEX_ACP_VERSION" dist/index.js \
        || return 1
    local codex
    codex="$(find "$AGENTS_DIR/codex-acp/node_modules" -type f \
        \( -name codex-acp -o -name codex \) -perm -u+x 2>/dev/null | head -n 1)"
    if [[ -z "$codex" ]]; then
        log "codex-acp: no bundled native codex binary found under node_modules"
        return 1
    fi
    check_native codex-acp "$codex"
}

# --- Kimi CLI (PyPI: kimi-cli), a Python 3.13 venv --------------------------------------------

install_kimi() {
    local dir="$AGENTS_DIR/kimi" venv="$AGENTS_DIR/kimi/venv" python have
    if [[ -x "$venv/bin/python" ]]; then
        have="$("$venv/bin/python" -c \
            'import importlib.metadata as m; print(m.version("kimi-cli"))' 2>/dev/null)"
        if [[ "$have" == "$KIMI_CLI_VERSION" ]]; then
            log "kimi-cli $have already installed"
            record_version kimi "$have"
            return 0
        fi
        log "kimi-cli ${have:-?} found, want $KIMI_CLI_VERSION: reinstalling"
    fi
    if ! python="$(find_python 3.13)"; then
        log "kimi: no python3.13 found (kimi-cli needs it)"
        return 1
    fi
    log "kimi-cli $KIMI_CLI_VERSION into $venv (with $("$python" --version 2>&1))"
    rm -rf "$venv"
    mkdir -p "$dir"
    "$python" -m venv "$venv" || return 1
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check \
        "kimi-cli==$KIMI_CLI_VERSION" >"$dir/install.log" 2>&1; then
        grep -v 'is ignored: it is neither' "$dir/install.log" | tail -n 20 >&2
        log "kimi: pip install failed (full log: $dir/install.log)"
        return 1
    fi
    # Never the bare `kimi` entry point: it may try to download an installer.
    "$venv/bin/python" -c 'import kimi_cli.cli' >/dev/null 2>&1 || {
        log "kimi-cli installed but kimi_cli.cli does not import"
        return 1
    }
    record_version kimi "$KIMI_CLI_VERSION"
}

# ------------------------------------------------------------------------------------------------

ALL=(fast-agent claude-agent-acp codex-acp kimi)
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
