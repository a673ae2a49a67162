#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, starts PostgreSQL, then
# typecheck, lint (including the layering rule), the web UI's build and every test on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
PAVED_TEST_DATABASE_URL=$(scripts/pg-up.sh | tail -n 1)
export PAVED_TEST_DATABASE_URL
echo "PostgreSQL for tests: $PAVED_TEST_DATABASE_URL"
npx tsc -p tsconfig.json --noEmit
npx tsc -p web/tsconfig.json
# The web UI the browser tests drive: built from this checkout's web/ (seconds).
npm run --silent build:web
npx eslint .
npx depcruise src web/src --config .dependency-cruiser.cjs
mkdir -p .paved
npx vitest run --reporter=default --reporter=json --outputFile.json=.paved/test-results.json "$@"
node scripts/test-summary.js .paved/test-results.json
