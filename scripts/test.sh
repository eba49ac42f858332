#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, type-checks, runs every test.
# With CI=true a missing client fails its tests instead of being installed or skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci
fi
npm run build
npx tsc -p tsconfig.json
npm run typecheck -w web

mkdir -p .test-tmp
status=0
npx vitest run --reporter=default --reporter=json --outputFile=.test-tmp/vitest.json "$@" || status=$?
node scripts/summarize-tests.mjs .test-tmp/vitest.json || status=1
exit $status
