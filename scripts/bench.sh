#!/usr/bin/env bash
# `npm run bench`: production build + .vsix, compile, then each benchmark part in its own Node process (so one
# part's heap and JIT state cannot colour another's), then bench/report.ts writes bench/results.json + RESULTS.md.
# A part that fails is reported as such; the others still run. Parts: BENCH_PARTS="streaming render ..." to choose.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/.tmp
rm -f bench/.tmp/*.json bench/.tmp/load.txt

echo "=== build (production) and package"
npm run -s package >bench/.tmp/package.log 2>&1 || { echo "package failed (see bench/.tmp/package.log)"; }
# dist/ is shared with other runs (npm test, watch builds): keep this build's files for the start-up part.
rm -rf bench/.tmp/dist && mkdir -p bench/.tmp/dist
cp dist/extension.js dist/undici.js dist/webview.js dist/*.css dist/llama-server-chat.vsix bench/.tmp/dist/ 2>/dev/null || true
# The webview's on-demand chunks (highlight.js grammars) sit beside its entry.
cp -r dist/webview bench/.tmp/dist/ 2>/dev/null || true
npx tsc -p tsconfig.test.json >bench/.tmp/tsc.log 2>&1 || echo "tsc reported errors (see bench/.tmp/tsc.log); running what compiled"

status=0
for part in ${BENCH_PARTS:-streaming render longChat storage startup tokRate e2e}; do
  [ -f "out/bench/$part.js" ] || { echo "=== $part: not built, skipped"; continue; }
  echo "=== $part ($(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "$part: $(cut -d' ' -f1-3 /proc/loadavg)" >>bench/.tmp/load.txt
  node --expose-gc "out/bench/$part.js" || status=1
done

node out/bench/report.js
exit $status
