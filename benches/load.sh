#!/usr/bin/env bash
# End-to-end load benchmark, loopback only, bounded in time.
#
# Measures requests/s and latency (p50, p99) of a non-streaming chat completion:
#   1. the demo upstream called directly,
#   2. through switchboard (builtin:openai adapter + builtin:round-robin strategy
#      components on the path),
#   3. through a plain nginx reverse proxy (keep-alive upstream) for comparison,
#   2b. the same through a provider with a key (every answer scrubbed of it),
#   2c. the whole chain: gateway key, weighted strategy over two providers,
#       request-limit + token-quota, redact-pii both ways, usage records,
#   4. through switchboard on a cached route (every request after the first a hit:
#      no upstream hop at all).
# Each at concurrency 1 (added latency) and 50 connections (throughput). Then the
# time of 20 reloads of the unchanged config (POST /admin/reload, plugins reused).
#
# Usage: benches/load.sh [seconds per run, default 10]
# Needs wrk and nginx (installed from Debian packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
UP=18089; SB=18080; NGX=18081; ADM=18090; CHAIN=18082
export SB_BENCH_ADMIN=bench-admin-token
# A provider key (the demo upstream ignores it): the keyed route pays for scrubbing it.
export SB_BENCH_PROVIDER_KEY=sk-bench-provider-key-0123456789abcdef
export SB_BENCH_GATEWAY_KEY=sb-bench-gateway-key
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null
fi
# SB_BIN: a binary built before (to compare two builds of the gateway in one sitting).
BIN=${SB_BIN:-target/x86_64-unknown-linux-gnu/release/switchboard}
[ -n "${SB_BIN:-}" ] || cargo build --release --quiet

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence, please."}],"temperature":0.2,"max_tokens":64}'
LUA
sed 's/"model":"bench"/"model":"bench-cached"/' "$WORK/post.lua" > "$WORK/cached.lua"
sed 's/"model":"bench"/"model":"bench-keyed"/' "$WORK/post.lua" > "$WORK/keyed.lua"
{ cat "$WORK/post.lua"; echo "wrk.headers[\"Authorization\"] = \"Bearer $SB_BENCH_GATEWAY_KEY\""; } > "$WORK/chain.lua"

# The whole chain, on a second gateway (its gateway key would otherwise apply to every
# route above): key auth, weighted strategy over two providers, request-limit and
# token-quota (memory counters), redact-pii on requests and answers, usage records.
. benches/chain-config.sh
chain_config "$CHAIN" "$UP" "$WORK" 4 > "$WORK/chain.toml"

cat > "$WORK/switchboard.toml" <<TOML
[server]
listen = "127.0.0.1:$SB"
[admin]
listen = "127.0.0.1:$ADM"
token_env = "SB_BENCH_ADMIN"
[plugins]
cache_dir = "$WORK/cache"
[providers.up]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$UP/v1"
[models."bench"]
targets = [{ provider = "up", model = "demo-echo" }]
[providers.keyed]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$UP/v1"
api_key_env = "SB_BENCH_PROVIDER_KEY"
[models."bench-keyed"]
targets = [{ provider = "keyed", model = "demo-echo" }]
[models."bench-cached"]
targets = [{ provider = "up", model = "demo-echo" }]
cache = { ttl = "1h" }
TOML

. benches/measure.sh
nginx_conf "$NGX" "$UP" "$WORK" > "$WORK/nginx.conf"

SWITCHBOARD_LOG=warn "$BIN" demo --listen "127.0.0.1:$UP" &
UP_PID=$!
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/switchboard.toml" &
SB_PID=$!
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/chain.toml" &
CHAIN_PID=$!
nginx -c "$WORK/nginx.conf" -p "$WORK"
for port in $UP $SB $NGX $CHAIN; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

# The processes that serve a port: the gateway, nginx (master and workers) or the upstream.
pids_of() {
  case "$1" in
    "$SB") echo "$SB_PID" ;;
    "$CHAIN") echo "$CHAIN_PID" ;;
    "$NGX") local m; m=$(cat "$WORK/nginx.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')" ;;
    *) echo "$UP_PID" ;;
  esac
}

run() { # name port connections threads [script]
  wrk_run "$1" "http://127.0.0.1:$2/v1/chat/completions" "$(pids_of "$2")" "$3" "$4" "$WORK/${5:-post}.lua" "$DURATION"
}

echo "# $(date -u +%F) $(nproc) cores, ${DURATION}s per run, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
for c in 1 50; do
  t=1; [ "$c" -gt 1 ] && t=2
  run "upstream direct" $UP $c $t
  run "switchboard -> upstream" $SB $c $t
  run "switchboard keyed provider" $SB $c $t keyed
  run "switchboard full chain" $CHAIN $c $t chain
  run "nginx -> upstream" $NGX $c $t
  run "switchboard cache hit" $SB $c $t cached
done

# Reload time with unchanged plugins: the whole new state is built and swapped.
took=()
for _ in $(seq 20); do
  took+=("$(curl -s -X POST -H "Authorization: Bearer $SB_BENCH_ADMIN" "http://127.0.0.1:$ADM/admin/reload" \
    | sed -n 's/.*"took_ms":\([0-9.]*\).*/\1/p')")
done
printf '%s\n' "${took[@]}" | sort -n | awk '{a[NR]=$1; s+=$1} END {
  printf "reload, unchanged plugins   n=%d  mean %.2f ms  p50 %.2f ms  max %.2f ms\n", NR, s/NR, a[int((NR+1)/2)], a[NR] }'
