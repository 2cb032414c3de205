#!/usr/bin/env bash
# What each inbound API costs, loopback only, bounded in time: one gateway in front of
# the demo provider (which speaks OpenAI's chat API and Anthropic's Messages API), a
# non-streaming request of the same text through
#   1. /v1/chat/completions   → OpenAI-shaped target (passed through)
#   2. /v1/messages           → Anthropic target (passed through as sent)
#   3. /v1/messages           → OpenAI-shaped target (translated both ways)
#   4. /v1/chat/completions   → Anthropic target (the adapter component translates)
#   5. /v1/responses          → OpenAI-shaped target (translated both ways)
#   6. nginx (one worker per core) → the demo's /v1/messages, for comparison
# at 50 connections and at 1, with the CPU µs per request of the serving processes.
#
# Usage: benches/protocols.sh [seconds per run, default 10]
# Needs wrk and nginx (installed from Debian packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
UP=18389; GW=18380; NGX=18381
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null
fi
cargo build --release --quiet
BIN=target/x86_64-unknown-linux-gnu/release/switchboard
. benches/measure.sh

lua() { # file body
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["anthropic-version"] = "2023-06-01"\nwrk.body = %s\n' "'$2'" > "$WORK/$1.lua"
}
ASK="Summarise the plot of Hamlet in one sentence, please."
lua chat '{"model":"openai","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"'"$ASK"'"}],"max_tokens":64}'
lua chat-anthropic '{"model":"anthropic","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"'"$ASK"'"}],"max_tokens":64}'
lua messages-native '{"model":"anthropic","max_tokens":64,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"'"$ASK"'"}]}'
lua messages-translated '{"model":"openai","max_tokens":64,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"'"$ASK"'"}]}'
lua responses '{"model":"openai","instructions":"You are a helpful assistant.","input":"'"$ASK"'","max_output_tokens":64,"store":false}'
sed 's/"model":"anthropic"/"model":"demo-echo"/' "$WORK/messages-native.lua" > "$WORK/nginx.lua"

cat > "$WORK/gw.toml" <<TOML
[server]
listen = "127.0.0.1:$GW"
[plugins]
cache_dir = "$WORK/cache"
[providers.oa]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$UP/v1"
[providers.an]
adapter = "builtin:anthropic"
base_url = "http://127.0.0.1:$UP/v1"
[models."openai"]
targets = [{ provider = "oa", model = "demo-echo" }]
[models."anthropic"]
targets = [{ provider = "an", model = "demo-echo" }]
TOML

nginx_conf "$NGX" "$UP" "$WORK" > "$WORK/nginx.conf"

SWITCHBOARD_LOG=warn "$BIN" demo --listen "127.0.0.1:$UP" &
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/gw.toml" &
GW_PID=$!
nginx -c "$WORK/nginx.conf" -p "$WORK"
for port in $UP $GW $NGX; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
NGX_PIDS="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"

echo "# $(date -u +%F) $(nproc) cores, ${DURATION}s per run, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
for c in 50 1; do
  t=1; [ "$c" -gt 1 ] && t=2
  wrk_run "chat -> openai (pass-through)" "http://127.0.0.1:$GW/v1/chat/completions" "$GW_PID" $c $t "$WORK/chat.lua" "$DURATION"
  wrk_run "messages -> anthropic (pass)" "http://127.0.0.1:$GW/v1/messages" "$GW_PID" $c $t "$WORK/messages-native.lua" "$DURATION"
  wrk_run "messages -> openai (translated)" "http://127.0.0.1:$GW/v1/messages" "$GW_PID" $c $t "$WORK/messages-translated.lua" "$DURATION"
  wrk_run "chat -> anthropic (adapter)" "http://127.0.0.1:$GW/v1/chat/completions" "$GW_PID" $c $t "$WORK/chat-anthropic.lua" "$DURATION"
  wrk_run "responses -> openai (translated)" "http://127.0.0.1:$GW/v1/responses" "$GW_PID" $c $t "$WORK/responses.lua" "$DURATION"
  wrk_run "nginx -> demo /v1/messages" "http://127.0.0.1:$NGX/v1/messages" "$NGX_PIDS" $c $t "$WORK/nginx.lua" "$DURATION"
done
