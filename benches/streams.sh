#!/usr/bin/env bash
# Streaming benchmark, loopback only, bounded (a fixed number of streams and chunks).
#
# An upstream (benches/streams.rs) streams 64 chunks 20 ms apart, each stamped with the
# time it was written. A client opens 512 streams started evenly over one second (a steady
# ~500 open), each on its own connection, and measures per stream: time to first token,
# each chunk's delivery delay (arrival − stamp), stalls (a gap 100 ms over the upstream's),
# and the proxy's RSS and CPU. In one run:
#   direct                  the upstream itself (the floor every proxy adds to)
#   nginx                   proxy_buffering off, keep-alive upstream, one worker per core
#   switchboard             one OpenAI target (three repetitions: memory must stay flat)
#   switchboard + redactor  redact-pii on the route (its window holds text back)
#   switchboard translating an OpenAI client to an Anthropic upstream (builtin:anthropic)
#   burst                   512 streams opened at once: direct, nginx, switchboard
# "added" is the figure minus direct's in the same run.
#
# Usage: benches/streams.sh [streams, default 512]
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS="${1:-512}"; CHUNKS=64; GAP=20; WINDOW=1000
UP=18189; SB=18180; NGX=18181
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

if ! command -v nginx >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null
fi
# Each stream is a connection at each hop: room for them all.
ulimit -n 65536 2>/dev/null || true
# SB_BIN / SB_STREAMS_TOOL: binaries built before (to compare two builds of the gateway).
BIN=${SB_BIN:-target/x86_64-unknown-linux-gnu/release/switchboard}
[ -n "${SB_BIN:-}" ] || cargo build --release --quiet
TOOL=${SB_STREAMS_TOOL:-$(cargo bench --bench streams --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*streams[^"]*\)".*/\1/p' | tail -1)}

cat > "$WORK/switchboard.toml" <<TOML
[server]
listen = "127.0.0.1:$SB"
[plugins]
cache_dir = "$WORK/cache"
# A translated stream holds its adapter's instance until it ends: room for them all.
max_instances_per_plugin = 1024
[providers.up]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$UP/v1"
[providers.anthropic]
adapter = "builtin:anthropic"
base_url = "http://127.0.0.1:$UP/v1"
[models."bench"]
targets = [{ provider = "up", model = "m" }]
[models."bench-redacted"]
targets = [{ provider = "up", model = "m" }]
redactors = ["builtin:redact-pii"]
[models."bench-translated"]
targets = [{ provider = "anthropic", model = "m" }]
TOML

. benches/measure.sh
nginx_conf "$NGX" "$UP" "$WORK" "proxy_buffering off;" > "$WORK/nginx.conf"

"$TOOL" upstream "127.0.0.1:$UP" $CHUNKS $GAP &
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/switchboard.toml" &
SB_PID=$!
nginx -c "$WORK/nginx.conf" -p "$WORK"
for port in $UP $SB $NGX; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
NGX_PIDS="$(cat "$WORK/nginx.pid"),$(pgrep -P "$(cat "$WORK/nginx.pid")" | paste -sd,)"

declare -A TTFT CHUNK
# run NAME PORT API MODEL WINDOW_MS PIDS [BASELINE]
run() {
  local name=$1 port=$2 api=$3 model=$4 window=$5 pids=$6 base=${7:-} path out
  path=/v1/chat/completions; [ "$api" = anthropic ] && path=/v1/messages
  out=$("$TOOL" client "http://127.0.0.1:$port$path" "$api" "$model" "$STREAMS" "$window" $GAP "$pids")
  val() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$out"; }
  TTFT[$name]=$(val ttft_p50_us); CHUNK[$name]=$(val chunk_p50_us)
  local added="" mem=""
  if [ -n "$base" ]; then
    added=$(awk -v a="$(val ttft_p50_us)" -v b="${TTFT[$base]}" -v c="$(val chunk_p50_us)" -v d="${CHUNK[$base]}" \
      'BEGIN { printf "added ttft p50 %+.2f ms, chunk p50 %+.3f ms", (a-b)/1000, (c-d)/1000 }')
  fi
  if [ -n "$pids" ]; then
    mem=$(awk -v r0="$(val rss_before_kib)" -v rp="$(val rss_peak_kib)" -v r1="$(val rss_after_kib)" -v n="$(val peak_open)" -v cpu="$(val cpu_ms)" -v s="$STREAMS" -v k=$CHUNKS \
      'BEGIN { printf "rss %.0f→%.0f→%.0f MiB (%.1f KiB/stream at %d open), cpu %.0f ms (%.1f µs/chunk)", r0/1024, rp/1024, r1/1024, (rp-r0)/n, n, cpu, cpu*1000/(s*k) }')
  fi
  printf "%-26s ttft p50 %6.2f ms p99 %6.2f ms | chunk p50 %6.3f ms p99 %6.3f ms | stalls %s errors %s chunks %s\n" \
    "$name" "$(awk -v x="$(val ttft_p50_us)" 'BEGIN{print x/1000}')" "$(awk -v x="$(val ttft_p99_us)" 'BEGIN{print x/1000}')" \
    "$(awk -v x="$(val chunk_p50_us)" 'BEGIN{print x/1000}')" "$(awk -v x="$(val chunk_p99_us)" 'BEGIN{print x/1000}')" \
    "$(val stalls)" "$(val errors)" "$(val chunks)"
  [ -n "$added$mem" ] && printf "%-26s %s %s\n" "" "$added" "$mem"
  return 0
}

echo "# $(date -u +%F) $(nproc) cores, $STREAMS streams over ${WINDOW} ms, $CHUNKS chunks ${GAP} ms apart"
run "direct" $UP openai bench $WINDOW ""
run "nginx" $NGX openai bench $WINDOW "$NGX_PIDS" direct
for i in 1 2 3; do
  run "switchboard #$i" $SB openai bench $WINDOW "$SB_PID" direct
done
run "switchboard + redact-pii" $SB openai bench-redacted $WINDOW "$SB_PID" direct
run "direct (anthropic)" $UP anthropic bench $WINDOW ""
run "switchboard translating" $SB openai bench-translated $WINDOW "$SB_PID" "direct (anthropic)"
echo "# burst: $STREAMS streams opened at once"
run "direct burst" $UP openai bench 0 ""
run "nginx burst" $NGX openai bench 0 "$NGX_PIDS" "direct burst"
run "switchboard burst" $SB openai bench 0 "$SB_PID" "direct burst"
