#!/usr/bin/env bash
# What each part of the full chain costs, loopback only, bounded in time: the same
# route built up one part at a time on one gateway (restarted per step), each step
# measured with wrk at 50 connections, CPU µs per request of the gateway from /proc.
#   1. gateway key + weighted strategy over two keyed providers
#   2. + request-limit and token-quota policies (memory counters)
#   3. + redact-pii on requests and answers
#   4. + [usage] records                                  (= the full chain of load.sh)
#
# Usage: benches/chain.sh [seconds per run, default 10]
# Needs wrk (installed from Debian packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
UP=18289; GW=18282
export SB_BENCH_PROVIDER_KEY=sk-bench-provider-key-0123456789abcdef
export SB_BENCH_GATEWAY_KEY=sb-bench-gateway-key
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN=target/x86_64-unknown-linux-gnu/release/switchboard

cat > "$WORK/chain.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $SB_BENCH_GATEWAY_KEY"
wrk.body = '{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence, please."}],"temperature":0.2,"max_tokens":64}'
LUA

. benches/chain-config.sh
config() { chain_config "$GW" "$UP" "$WORK" "$1"; }

SWITCHBOARD_LOG=warn "$BIN" demo --listen "127.0.0.1:$UP" &
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$UP/" && break; sleep 0.1; done

. benches/measure.sh

echo "# $(date -u +%F) $(nproc) cores, ${DURATION}s per run, c=50"
names=("key + weighted strategy" "+ request-limit, token-quota" "+ redact-pii both ways" "+ usage records (full)")
for step in 1 2 3 4; do
  config "$step" > "$WORK/gw.toml"
  SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/gw.toml" &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$GW/" && break; sleep 0.1; done
  wrk -t2 -c50 -d2s -s "$WORK/chain.lua" "http://127.0.0.1:$GW/v1/chat/completions" >/dev/null
  before=$(cpu_ticks $pid)
  out=$(wrk -t2 -c50 -d"${DURATION}s" --latency -s "$WORK/chain.lua" "http://127.0.0.1:$GW/v1/chat/completions")
  after=$(cpu_ticks $pid)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  if grep -q "Non-2xx" <<<"$out"; then echo "WARNING: non-2xx answers in step $step" >&2; fi
  printf "%-32s %10s req/s   cpu %6s us/req\n" "${names[$((step - 1))]}" "$rps" "$cpu"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
