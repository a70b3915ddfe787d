#!/usr/bin/env bash
# The one test command (`npm test`). Installs what a fresh machine lacks, then runs every stage.
# Stages: deps -> typecheck -> lint -> build -> unit -> llama-server (build/cache) -> server integration
#         -> code-server (install/cache) -> extension-host integration -> browser end-to-end -> package.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export LLAMA_CHAT_TEST_RESULTS="$ROOT/test-results"
rm -rf "$LLAMA_CHAT_TEST_RESULTS" && mkdir -p "$LLAMA_CHAT_TEST_RESULTS"

stage() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

stage "system packages"
bash scripts/ensure-system.sh

stage "npm dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

stage "type check (host, webview, tests)"
npm run -s typecheck

stage "lint"
npm run -s lint

stage "build"
npm run -s build
npm run -s compile:tests

stage "unit tests"
LLAMA_CHAT_SUITE=unit npx mocha --config .mocharc.unit.json --reporter ./out/test/support/reporter.js

stage "llama-server (build once, cached by version)"
node out/test/harness/cli.js ensure

stage "integration tests against a real llama-server"
LLAMA_CHAT_SUITE=llama-server npx mocha --config .mocharc.server.json --reporter ./out/test/support/reporter.js

if [ -f out/test/harness/runVscodeTests.js ]; then
  stage "code-server (install once, cached by version)"
  node out/test/harness/cli.js ensure-code-server
  # These record a failure in totals.jsonl (the summary then fails the run), so one failing suite does not
  # hide the other's results.
  vscode_failed=0
  stage "extension-host integration tests (real VS Code: code-server)"
  node out/test/harness/runVscodeTests.js || vscode_failed=1
  if [ -f out/test/harness/runLmTests.js ]; then
    # Installs code-server 4.139.1 and Node 24 once (cached); prints why and skips where they cannot run.
    stage "VS Code chat API tests (vscode.lm in VS Code 1.139: code-server 4.139.1 on Node 24)"
    node out/test/harness/runLmTests.js || vscode_failed=1
  fi
  if [ -f out/test/harness/runE2e.js ]; then
    stage "browser end-to-end tests (Chromium driving code-server)"
    node out/test/harness/runE2e.js || vscode_failed=1
  fi
fi

stage "package .vsix"
npm run -s package

stage "summary"
node out/test/support/summary.js
[ "${vscode_failed:-0}" = 0 ]
