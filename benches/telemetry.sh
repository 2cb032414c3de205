#!/usr/bin/env bash
# What `[telemetry]` costs the request path, loopback only, bounded in time: one route
# (the openai adapter, one target) measured with wrk at 1 and 50 connections, on a
# gateway without `[telemetry]`, on one exporting every request's spans (sample ratio
# 1, OTLP/HTTP protobuf, 1 s batches) and on one tracing a tenth of the requests, to a
# local sink that answers 200. CPU µs
# per request of the gateway from /proc (the sink's own CPU is not counted).
#
# Usage: benches/telemetry.sh [seconds per run, default 10]
# Needs wrk (installed from Debian packages if missing) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
UP=18489; PLAIN=18480; TRACED=18481; SINK=18488
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN=target/x86_64-unknown-linux-gnu/release/switchboard

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence, please."}],"temperature":0.2,"max_tokens":64}'
LUA
config() { # port [telemetry lines]
  printf '[server]\nlisten = "127.0.0.1:%s"\n[plugins]\ncache_dir = "%s/cache"\n%s\n[providers.up]\nadapter = "builtin:openai"\nbase_url = "http://127.0.0.1:%s/v1"\n[models."bench"]\ntargets = [{ provider = "up", model = "demo-echo" }]\n' \
    "$1" "$WORK" "${2:-}" "$UP"
}
config $PLAIN > "$WORK/plain.toml"
config $TRACED "$(printf '[telemetry]\notlp_endpoint = "http://127.0.0.1:%s"\nflush_interval = "1s"' $SINK)" > "$WORK/traced.toml"
sed "s/$TRACED/$((TRACED + 1))/; s/flush_interval/sample_ratio = 0.1\nflush_interval/" "$WORK/traced.toml" > "$WORK/sampled.toml"
# The sink: an OTLP/HTTP receiver that reads each export and answers 200.
cat > "$WORK/sink.py" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
python3 "$WORK/sink.py" $SINK &
SWITCHBOARD_LOG=warn "$BIN" demo --listen "127.0.0.1:$UP" &
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/plain.toml" & PLAIN_PID=$!
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/traced.toml" & TRACED_PID=$!
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/sampled.toml" & SAMPLED_PID=$!
for port in $UP $PLAIN $TRACED $((TRACED + 1)); do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
. benches/measure.sh
for c in 1 50; do
  t=$([ "$c" = 1 ] && echo 1 || echo 2)
  wrk_run "switchboard -> upstream" "http://127.0.0.1:$PLAIN/v1/chat/completions" "$PLAIN_PID" $c $t "$WORK/post.lua" "$DURATION"
  wrk_run "  + [telemetry], every request" "http://127.0.0.1:$TRACED/v1/chat/completions" "$TRACED_PID" $c $t "$WORK/post.lua" "$DURATION"
  wrk_run "  + [telemetry], sample_ratio 0.1" "http://127.0.0.1:$((TRACED + 1))/v1/chat/completions" "$SAMPLED_PID" $c $t "$WORK/post.lua" "$DURATION"
done
