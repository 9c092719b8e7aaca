#!/usr/bin/env bash
# The web console's checks: bash scripts/web.sh (called by scripts/test.sh before pytest).
#
# Idempotent; on a fresh machine installs what the console needs, then stops at the first
# failure:
#   Chromium (Debian's, for the Playwright browser tests; apt-get when missing)
#   Node >= 20.19 (apt-get when missing) · npm ci in web/
#   rebuild the bundle into src/acphost/server/console/ and fail if it differs from the
#   committed one (the wheel ships the committed bundle, so it must be what the source builds)
#   web lint (tsc + eslint) · web unit tests (vitest)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
BUNDLE="src/acphost/server/console"
CHROMIUM="${ACPHOST_CHROMIUM:-/usr/bin/chromium}"

say() { printf '\n==> web: %s\n' "$*"; }
die() {
    printf '\nFAILED at step: web: %s\n' "$1" >&2
    exit 1
}

apt_install() { # packages...
    if ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@"
}

node_ok() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
        node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                 process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}

if [[ ! -x "$CHROMIUM" ]]; then
    say "installing Chromium (apt-get install chromium)"
    apt_install chromium || die "Chromium is missing and could not be installed (apt-get install chromium)"
fi

if ! node_ok; then
    say "installing Node.js (apt-get install nodejs npm)"
    apt_install nodejs npm
    node_ok || die "Node.js >= 20.19 with npm is needed to build the console (found: $(node --version 2>&1))"
fi

say "npm ci"
(cd web && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) || die "npm ci"

say "rebuilding the bundle"
(cd web && npm run --silent build) || die "npm run build"
if ! git diff --quiet -- "$BUNDLE" || [[ -n "$(git ls-files --others --exclude-standard -- "$BUNDLE")" ]]; then
    git status --short -- "$BUNDLE" >&2
    die "the committed bundle in $BUNDLE differs from what web/ builds: commit the rebuilt files"
fi

say "lint"
(cd web && npm run --silent lint) || die "npm run lint"
say "unit tests"
(cd web && npm test --silent) || die "npm test"
say "console checks passed"
