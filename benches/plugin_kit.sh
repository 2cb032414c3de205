#!/usr/bin/env bash
# The plugin author's loop, timed per language (loopback only, bounded):
#   plugin new strategy my-router --lang L; plugin build (first, then after an edit);
#   its own tests; plugin test (the mean call time over 200 cases, and memory);
#   plugin inspect (size, compile time, in a fresh engine); then a gateway serving a
#   two-target route with the plugin as its strategy, the plugin edited (order
#   reversed) and rebuilt in place, and the time from the component file's last write
#   (and from the build command's return) until the gateway serves a request by the new
#   build (its watcher, its compile — from the functions it
#   kept, `[plugins] function_cache_mib` — and the swap).
#
# Usage: benches/plugin_kit.sh [rust] [python] [js]     (default: all three)
#   python: componentize-py 0.25.1 on PATH (pip install componentize-py==0.25.1)
#   js: NODE_MODULES=<a node_modules with @bytecodealliance/componentize-js@0.23.0 and
#       @bytecodealliance/jco@1.35.0> (npm install them anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
LANGS=("${@:-rust python js}")
[ $# -eq 0 ] && LANGS=(rust python js)
cargo build --release --quiet
BIN=$PWD/target/x86_64-unknown-linux-gnu/release/switchboard
WORK=$(mktemp -d /tmp/plugin-kit.XXXXXX)
GW_PID=""
cleanup() { [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# 200 cases of two targets for the mean call time.
python3 - "$WORK/many.json" <<'PY'
import json, sys
t = [{"provider": "a", "model": "x", "latency_ms": 20}, {"provider": "b", "model": "y", "latency_ms": 30}]
json.dump({"settings": {"slow_ms": 100}, "cases": [{"targets": t} for _ in range(200)]}, open(sys.argv[1], "w"))
PY

# The edit: the strategy's order reversed.
edit() {
  case "$1" in
    rust) sed -i 's/^        Ok(order)$/        order.reverse();\n        Ok(order)/' src/lib.rs ;;
    python) sed -i 's/return good + \(.*\)$/return list(reversed(good + \1))/' app.py ;;
    js) sed -i 's/!good(targets\[i\]))\];/!good(targets[i]))].reverse();/' plugin.js ;;
  esac
}

printf '| language | new | first build | rebuild | own tests | size | compile | call (mean of 200) | memory | rebuild served after (after the build returned) |\n|---|---|---|---|---|---|---|---|---|---|\n' > "$WORK/table"
port=18470
for lang in "${LANGS[@]}"; do
  cd "$WORK"
  t0=$(now); "$BIN" plugin new strategy my-router --lang "$lang" --dir "$WORK/$lang" >/dev/null; t1=$(now)
  cd "$WORK/$lang/my-router"
  case "$lang" in
    rust) wasm=$PWD/target/wasm32-wasip2/release/my_router.wasm; testcmd=(cargo test --quiet) ;;
    python) wasm=$PWD/my_router.wasm; testcmd=(sh -c 'componentize-py -d wit -w strategy bindings gen >/dev/null && PYTHONPATH=gen python3 -m unittest -q') ;;
    js) ln -s "$NODE_MODULES" node_modules; wasm=$PWD/my_router.wasm; testcmd=(npm test --silent) ;;
  esac
  t2=$(now); "$BIN" plugin build >/dev/null 2>&1; t3=$(now)
  t4=$(now); "${testcmd[@]}" >/dev/null 2>&1; t5=$(now)
  size=$(( $(stat -c %s "$wasm") / 1024 ))
  compile=$("$BIN" plugin inspect "$wasm" | sed -n 's/^compile: *//p')
  calls=$("$BIN" plugin test "$wasm" --cases "$WORK/many.json" | awk -F'[(,]' '/^ok/ { sub(/ µs/, "", $(NF-1)); s += $(NF-1); n++ } END { printf "%.1f µs", s/n }')
  mem=$("$BIN" plugin test "$wasm" --cases "$WORK/many.json" | awk -F', ' '/^ok/ { m=$NF } END { sub(/\)/, "", m); print m }')

  # A gateway with the plugin as a two-target route's strategy (the demo provider).
  port=$((port + 3))
  cat > gw.toml <<TOML
[server]
listen = "127.0.0.1:$port"
[demo]
listen = "127.0.0.1:$((port + 1))"
[plugins]
cache_dir = "$WORK/cache-$lang"
[providers.demo]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$((port + 1))/v1"
[strategies.my-router]
plugin = "$wasm"
settings = { slow_ms = 100 }
[models.m]
strategy = "my-router"
targets = [{ provider = "demo", model = "model-a" }, { provider = "demo", model = "model-b" }]
TOML
  "$BIN" serve --config gw.toml >"$WORK/gw-$lang.log" 2>&1 & GW_PID=$!
  served() { curl -s "http://127.0.0.1:$port/v1/chat/completions" -H 'content-type: application/json' \
      -d '{"model":"m","messages":[{"role":"user","content":"hi"}]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"])' 2>/dev/null || true; }
  for _ in $(seq 1 300); do [ "$(served)" = "model-a" ] && break; sleep 0.1; done
  # Edit and rebuild in place, as an author does, while the gateway serves.
  edit "$lang"
  t6=$(now); "$BIN" plugin build >/dev/null 2>&1; t7=$(now)
  for _ in $(seq 1 3000); do [ "$(served)" = "model-b" ] && break; sleep 0.01; done
  t9=$(now)
  landed=$(stat -c %.9Y "$wasm" | tr -d .)   # when the build last wrote the component
  kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""
  printf '| %s | %s ms | %s ms | %s ms | %s ms | %s KiB | %s | %s | %s | %s ms |\n' "$lang" "$(ms $t0 $t1)" "$(ms $t2 $t3)" "$(ms $t6 $t7)" \
    "$(ms $t4 $t5)" "$size" "$compile" "$calls" "$mem" "$(ms $landed $t9) ($(ms $t7 $t9))" >> "$WORK/table"
done
cat "$WORK/table"
