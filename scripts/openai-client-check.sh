#!/usr/bin/env bash
# Starts `switchyard demo` and streams from it with the official openai Python client, two models
# in parallel (deepseek-reasoner and glm-chat), then checks the OpenAI contract through the SDK
# (scripts/openai_parallel.py says what). Exits non-zero if anything is off.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/py-openai
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check 'openai>=1.40,<3'
cargo build -q -p switchyard
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=target/client-check-demo.log
target/debug/switchyard demo --port "$port" --chunks 16 --chunk-delay-ms 30 >"$log" 2>&1 &
demo=$!
trap 'kill -INT $demo 2>/dev/null || true; wait $demo 2>/dev/null || true' EXIT
"$venv/bin/python" scripts/openai_parallel.py "http://127.0.0.1:$port/v1" "$log" || {
  echo "--- demo log ---"; tail -n 40 "$log"; exit 1;
}
