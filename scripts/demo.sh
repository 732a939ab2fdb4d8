#!/usr/bin/env bash
# `npm run demo`: set up (idempotent), build profiles/minimal.yaml from the local fixture world, and
# boot-test it under QEMU. Offline: everything comes from Debian's packages and the world cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s build
echo
echo "== stagex-image test profiles/minimal.yaml --out out/minimal"
node bin/run.js test profiles/minimal.yaml --out out/minimal --accel auto --console --junit out/minimal/junit.xml
