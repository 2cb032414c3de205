#!/usr/bin/env bash
# How fast the console's pages are on a big gateway, loopback only: 100 routes and a
# million usage records (one day, SQLite), the gateway in release, each admin call a
# page makes timed with curl (the median of 5).
#
# Usage: benches/console.sh [records, default 1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
ADM=18490; GW=18480; UP=18489
export SB_BENCH_ADMIN=bench-admin-token
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cargo build --release --quiet
BIN=target/x86_64-unknown-linux-gnu/release/switchboard

python3 - "$WORK/usage.db" "$N" <<'PY'
import random, sqlite3, sys, time
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.executescript("""
CREATE TABLE usage (ts INTEGER NOT NULL, route TEXT NOT NULL, key TEXT NOT NULL, provider TEXT NOT NULL,
  model TEXT NOT NULL, status INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL, duration_ms INTEGER NOT NULL, request_id TEXT, api TEXT, team TEXT, user TEXT,
  error TEXT, error_message TEXT, cached_tokens INTEGER NOT NULL DEFAULT 0, ttft_ms INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX usage_ts ON usage (ts);
""")
now = int(time.time())
rows = ((now - random.randrange(86400), f"route-{i % 100}", f"key-{i % 50}", "up", "demo-echo",
         200 if i % 50 else 502, 200, 60, 0.00012, random.randrange(5, 900), f"req_{i}", "chat",
         f"team-{i % 5}", None, None, None, 0, None, 1) for i in range(n))
db.executemany("INSERT INTO usage VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
PY

{
  cat <<TOML
[server]
listen = "127.0.0.1:$GW"
[admin]
listen = "127.0.0.1:$ADM"
token_env = "SB_BENCH_ADMIN"
[plugins]
cache_dir = "$WORK/cache"
[usage]
sqlite_path = "$WORK/usage.db"
[providers.up]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$UP/v1"
TOML
  for i in $(seq 0 99); do
    printf '[models."route-%s"]\ntargets = [{ provider = "up", model = "demo-echo" }]\n' "$i"
  done
} > "$WORK/gw.toml"
SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/gw.toml" &
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$ADM/health" && break; sleep 0.1; done

now=$(date +%s); day=$((now - now % 86400))
echo "# $(date -u +%F) $(nproc) cores, $N usage records over a day, 100 routes; median of 5, ms"
for call in \
  "/admin/usage?from=$((now - 86400))&group=hour" \
  "/admin/usage?from=$day&group=" \
  "/admin/usage?days=7&group=day,route,model" \
  "/admin/usage?days=7&group=key&top=20" \
  "/admin/stats?hours=24" \
  "/admin/stats?hours=1" \
  "/admin/routes" "/admin/health" "/admin/config" "/admin/plugins" "/admin/alerts" \
  "/"; do
  times=()
  for _ in 1 2 3 4 5; do
    times+=("$(curl -s -o /dev/null -w '%{time_total}' -H "authorization: Bearer $SB_BENCH_ADMIN" "http://127.0.0.1:$ADM$call")")
  done
  med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  printf "%-48s %8.1f\n" "$call" "$(awk -v t="$med" 'BEGIN { print t * 1000 }')"
done
