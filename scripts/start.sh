#!/usr/bin/env bash
# `npm start`: build the extension and open it in a real VS Code (code-server) next to a llama-server.
#   LLAMA_SERVER_URL=http://host:port   use a running llama-server instead of starting one
#   LLAMA_MODEL=/path/to/model.gguf      start llama-server with this model (default: the tiny demo model)
#   PORT=8090                            code-server's port (default: a free one)
#   LLAMA_CHAT_VSIX=dist/x.vsix          install a packaged .vsix instead of loading the built folder
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build
npm run -s compile:tests
exec node out/test/harness/start.js
