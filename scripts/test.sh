#!/usr/bin/env bash
# `npm test`: set up what the tests need (idempotent), type-check, build, then run every mocha test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s build
npm run -s typecheck
# Test files run two at a time (.mocharc.json: parallel, jobs 2): most of the suite's time is TCG
# boots, each on one core. Tests share nothing but the fixture world, which setup.sh made above.
# With no arguments, every test; otherwise only the files given (e.g. npm test -- test/formats/cpio.test.ts).
if (($# == 0)); then set -- "test/**/*.test.ts"; fi
exec npx mocha "$@"
