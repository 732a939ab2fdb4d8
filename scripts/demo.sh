#!/usr/bin/env bash
# `npm run demo`: set up (idempotent), then scripts/demo.ts: push the fixture images to a local
# registry, and `stagex-image test` the example profile from it (pull, 2-of-3 trust, build, boot).
# Offline: everything comes from Debian's packages, the world cache and loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s build
exec node --import tsx scripts/demo.ts
