#!/usr/bin/env bash
# Install the pinned real third-party ACP agents (the end-to-end tests drive them).
#
#   bash scripts/install-agents.sh                 # every agent below
#   bash scripts/install-agents.sh kimi codex      # only the ones named
#   bash scripts/install-agents.sh --dry-run       # print the exact commands, run nothing
#
#   fast-agent  PyPI fast-agent-mcp, in a Python >= 3.12 venv
#   claude      npm @agentclientprotocol/claude-agent-acp (bundles the Claude Code binary)
#   claude-node22  the newest claude-agent-acp, with npm's node@22 beside it (it needs Node >= 22)
#   codex       npm @agentclientprotocol/codex-acp (bundles the codex binary)
#   kimi        PyPI kimi-cli, in a Python 3.13 venv
#
# This is `acphost agents install NAME...`: the pinned versions live in acphost's registry
# (src/acphost/agents/_builtin.py) and the agents go where acphost looks for them:
# $ACPHOST_AGENTS_DIR, else $ACPHOST_HOME/agents, else ~/.local/share/acphost/agents
# (scripts/test.sh sets ACPHOST_AGENTS_DIR to this project's .cache/agents). An agent already
# there at its pinned version is skipped; <dir>/versions.txt records what is installed.
# A failure is reported and the script goes on with the next agent; it exits non-zero if any
# agent failed, so callers that treat agents as optional should say `|| true`.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL=(fast-agent claude claude-node22 codex kimi)

args=()
names=()
for arg in "$@"; do
    if [[ "$arg" == --* ]]; then args+=("$arg"); else names+=("$arg"); fi
done
[[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")

# acphost itself: the project's .venv (scripts/test.sh and demo.sh make it), else this source
# tree on the first python3 that has acphost's dependencies.
if [[ -x "$ROOT/.venv/bin/python" ]]; then
    exec "$ROOT/.venv/bin/python" -m acphost.cli agents install "${args[@]}" "${names[@]}"
fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c 'import acphost.cli' 2>/dev/null; then
    echo "[install-agents] install acphost first: pip install -e $ROOT (or run scripts/test.sh)" >&2
    exit 1
fi
exec python3 -m acphost.cli agents install "${args[@]}" "${names[@]}"
