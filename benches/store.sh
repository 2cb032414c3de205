#!/usr/bin/env bash
# What the store costs on the request path, loopback only, bounded in time: one route
# (gateway key, a keyed provider) measured with wrk at 50 connections, the gateway
# restarted per step, CPU µs per request of the gateway (and of the PostgreSQL and
# Redis servers, separately) from /proc:
#   1. no usage records
#   2. + [usage] in a SQLite file
#   3. + [usage] in PostgreSQL ([store] postgres_url_env)
#   4. + a team budget (builtin:budget), memory counters
#   5. the budget's counters in Redis                    (one replica's full setup)
#   6. two replicas of 5 sharing the PostgreSQL and the Redis, 25 connections each
#
# Usage: benches/store.sh [seconds per run, default 10]
# Needs wrk, redis-server and postgresql (installed from Debian packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
UP=18389; GW=18382; GW2=18383; PGPORT=18391; REDISPORT=18392
export SB_BENCH_PROVIDER_KEY=sk-bench-provider-key-0123456789abcdef
export SB_BENCH_GATEWAY_KEY=sb-bench-gateway-key
export SB_BENCH_PG="postgres://postgres@127.0.0.1:$PGPORT/postgres"
WORK=$(mktemp -d)
chmod 755 "$WORK"
PGBIN=""
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  [ -n "$PGBIN" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi
cargo build --release --quiet
BIN=target/x86_64-unknown-linux-gnu/release/switchboard

cat > "$WORK/chat.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $SB_BENCH_GATEWAY_KEY"
wrk.body = '{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Summarise the plot of Hamlet in one sentence, please."}],"temperature":0.2,"max_tokens":64}'
LUA

# PostgreSQL (its defaults, fsync on) and Redis (no persistence) of this run's own.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -A trust -U postgres -E UTF8 -D "$WORK/pg/data" >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -w -l "$WORK/pg/log" \
  -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
PGPID=$(head -1 "$WORK/pg/data/postmaster.pid")
redis-server --port "$REDISPORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
REDISPID=$!

# config LISTEN STEP
config() {
  local listen=$1 step=$2
  cat <<TOML
[server]
listen = "127.0.0.1:$listen"
[plugins]
cache_dir = "$WORK/cache"
[[keys]]
name = "bench"
secret_env = "SB_BENCH_GATEWAY_KEY"
team = "search"
[[teams]]
name = "search"
[providers.a]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$UP/v1"
api_key_env = "SB_BENCH_PROVIDER_KEY"
[models."bench"]
targets = [{ provider = "a", model = "demo-echo", input_price = 0.15, output_price = 0.6 }]
TOML
  [ "$step" -ge 4 ] && echo 'policies = ["team-budget"]'
  [ "$step" -ge 3 ] && printf '[store]\npostgres_url_env = "SB_BENCH_PG"\n'
  [ "$step" -eq 2 ] && printf '[usage]\nsqlite_path = "%s/usage-%s.db"\n' "$WORK" "$listen"
  [ "$step" -ge 3 ] && printf '[usage]\n'
  [ "$step" -ge 5 ] && printf '[counters]\nredis_url = "redis://127.0.0.1:%s/0"\n' "$REDISPORT"
  if [ "$step" -ge 4 ]; then
    printf '[policies.team-budget]\nplugin = "builtin:budget"\nsettings = { limit = 1000000, per = "team", period = "month" }\n'
  fi
  return 0
}

SWITCHBOARD_LOG=warn "$BIN" demo --listen "127.0.0.1:$UP" &
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$UP/" && break; sleep 0.1; done

. benches/measure.sh

# The PIDs of the PostgreSQL server (postmaster and its backends).
pg_pids() { echo "$PGPID $(pgrep -P "$PGPID" | tr '\n' ' ')"; }

start_gw() {
  config "$1" "$2" > "$WORK/gw-$1.toml"
  SWITCHBOARD_LOG=warn "$BIN" serve --config "$WORK/gw-$1.toml" &
  echo $! > "$WORK/gw-$1.pid"
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && break; sleep 0.1; done
  wrk -t1 -c10 -d1s -s "$WORK/chat.lua" "http://127.0.0.1:$1/v1/chat/completions" >/dev/null
}
stop_gw() { kill "$(cat "$WORK/gw-$1.pid")"; wait "$(cat "$WORK/gw-$1.pid")" 2>/dev/null || true; }
per_req() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$2" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'; }

echo "# $(date -u +%F) $(nproc) cores, ${DURATION}s per run, c=50; cpu = gateway, store = PostgreSQL + Redis"
names=("no usage records" "+ usage in SQLite" "+ usage in PostgreSQL" "+ team budget, memory counters" "budget counters in Redis")
for step in 1 2 3 4 5; do
  start_gw "$GW" "$step"
  gw=$(cat "$WORK/gw-$GW.pid")
  pids="$(pg_pids) $REDISPID"
  # shellcheck disable=SC2086
  s0=$(cpu_ticks $pids)
  line=$(wrk_run "${names[$((step - 1))]}" "http://127.0.0.1:$GW/v1/chat/completions" "$gw" 50 2 "$WORK/chat.lua" "$DURATION")
  # shellcheck disable=SC2086
  s1=$(cpu_ticks $(pg_pids) $REDISPID)
  n=$(awk '{for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1)}' <<<"$line")
  echo "$line   store $(per_req $((s1 - s0)) "$(awk -v r="$n" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')") us/req"
  stop_gw "$GW"
done

# Two replicas at once, 25 connections each.
start_gw "$GW" 5
start_gw "$GW2" 5
a=$(cat "$WORK/gw-$GW.pid"); b=$(cat "$WORK/gw-$GW2.pid")
c0=$(cpu_ticks "$a" "$b")
wrk -t1 -c25 -d"${DURATION}s" -s "$WORK/chat.lua" "http://127.0.0.1:$GW/v1/chat/completions" > "$WORK/a.out" &
wa=$!
wrk -t1 -c25 -d"${DURATION}s" -s "$WORK/chat.lua" "http://127.0.0.1:$GW2/v1/chat/completions" > "$WORK/b.out"
wait "$wa"
c1=$(cpu_ticks "$a" "$b")
na=$(awk '/requests in/ {print $1}' "$WORK/a.out"); nb=$(awk '/requests in/ {print $1}' "$WORK/b.out")
ra=$(awk '/Requests\/sec/ {print $2}' "$WORK/a.out"); rb=$(awk '/Requests\/sec/ {print $2}' "$WORK/b.out")
printf "%-34s c=%-3s %10s req/s   (%s + %s)   cpu %6s us/req\n" "two replicas of 5" 50 \
  "$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.2f", a + b }')" "$ra" "$rb" "$(per_req $((c1 - c0)) $((na + nb)))"
rows=$(runuser -u postgres -- psql -h "$WORK/pg" -p "$PGPORT" -At -c "SELECT count(*) FROM switchboard_usage" postgres)
echo "usage records in PostgreSQL: $rows"
