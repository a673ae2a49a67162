#!/usr/bin/env bash
# `npm run quickstart`: the golden path on this machine in one command. Installs what is missing,
# starts `paved up` in the background (or reuses one already answering), submits
# examples/quickstart/job.yaml, follows its log, waits for it to succeed, then registers the
# model, evaluates it against its gate policy and deploys it to production as a canary under
# traffic (scripts/quickstart.ts + scripts/golden-path.ts), and prints where everything landed.
# The server keeps running afterwards; the last lines say how to stop it.
#   PAVED_PORT=8080        port of the server (also read by `paved up`)
#   PAVED_TOKEN=...        token to use with a server you started yourself
#   PAVED_QUICKSTART_DIR=./.paved   data folder of the server it starts
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PAVED_PORT:-8080}
DATA_DIR=${PAVED_QUICKSTART_DIR:-./.paved}
URL="http://127.0.0.1:$PORT"
TOKEN_FILE="$DATA_DIR/quickstart-token"
PID_FILE="$DATA_DIR/server.pid"
LOG_FILE="$DATA_DIR/server.log"
JOB_FILE=examples/quickstart/job.yaml

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
paved() { node bin/paved.js "$@"; }
# Exit 0 when GET $1 answers 2xx (with the token in $2, if any); node's fetch, so curl is not needed.
http_ok() {
  node -e 'fetch(process.argv[1], { headers: process.argv[2] ? { authorization: `Bearer ${process.argv[2]}` } : {}, signal: AbortSignal.timeout(2000) })
    .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1" "${2:-}"
}

step "Installing what the quickstart needs (Debian python3-torch + python3-sklearn, npm packages)"
scripts/install-deps.sh --runtime
# The web UI `paved up` serves at / (npm install builds it too; this catches a checkout changed since).
npm run --silent build:web
echo "ok"

mkdir -p "$DATA_DIR"
if http_ok "$URL/api/v1/health"; then
  step "Reusing the Paved server already answering on $URL"
  TOKEN=${PAVED_TOKEN:-$( [ -f "$TOKEN_FILE" ] && cat "$TOKEN_FILE" || true )}
  if [ -z "$TOKEN" ] || ! http_ok "$URL/api/v1/whoami" "$TOKEN"; then
    echo "A server answers on $URL, but neither PAVED_TOKEN nor $TOKEN_FILE holds a token it accepts." >&2
    echo "To fix: export PAVED_TOKEN=<the admin token that server printed>, or stop it, or use another port (PAVED_PORT=8090 npm run quickstart)." >&2
    exit 1
  fi
else
  step "Starting paved up on $URL (data in $DATA_DIR, log in $LOG_FILE)"
  # The quickstart keeps its own admin token in a file only you can read, and hands it to the
  # server as PAVED_ADMIN_TOKEN on every start: a fresh database takes it as the admin token (so
  # no one-time token is printed and lost), an existing database adds it as another admin token,
  # and reruns, restarts and a deleted .paved all keep working with the same file.
  if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077 && node -e 'process.stdout.write("pvd_" + require("node:crypto").randomBytes(24).toString("base64url") + "\n")' > "$TOKEN_FILE")
  fi
  chmod 600 "$TOKEN_FILE"
  TOKEN=$(cat "$TOKEN_FILE")
  # setsid + nohup: the server outlives this script and a Ctrl-C while following the log.
  PAVED_ADMIN_TOKEN="$TOKEN" setsid nohup node bin/paved.js up --data-dir "$DATA_DIR" --port "$PORT" >>"$LOG_FILE" 2>&1 < /dev/null &
  echo $! > "$PID_FILE"
  for _ in $(seq 150); do
    http_ok "$URL/api/v1/health" && break
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      echo "paved up exited; the end of $LOG_FILE:" >&2
      tail -n 20 "$LOG_FILE" >&2
      exit 1
    fi
    sleep 0.2
  done
  http_ok "$URL/api/v1/health" || { echo "paved up did not answer on $URL within 30 s; see $LOG_FILE" >&2; exit 1; }
  echo "paved up is running (pid $(cat "$PID_FILE")); admin token in $TOKEN_FILE"
fi
export PAVED_URL="$URL" PAVED_TOKEN="$TOKEN"

step "Submitting $JOB_FILE"
echo "\$ paved apply -f $JOB_FILE"
JOB_ID=$(paved apply -f "$JOB_FILE" --json | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).id))')
echo "job $JOB_ID queued"

step "Following the job's log (Ctrl-C stops following, not the job)"
echo "\$ paved jobs logs $JOB_ID --follow"
trap 'echo' INT
paved jobs logs "$JOB_ID" --follow || true
trap - INT

step "Result"
node --import tsx scripts/quickstart.ts "$JOB_ID" "$DATA_DIR"
