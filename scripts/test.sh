#!/usr/bin/env bash
# `npm test`: set up what the tests need (idempotent), type-check, build, then run every mocha test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s build
npm run -s typecheck
exec npx mocha "$@"
