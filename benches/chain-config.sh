# Sourced by benches/load.sh and benches/chain.sh: the full-chain route's config, built
# up to a step. chain_config LISTEN_PORT UPSTREAM_PORT WORK_DIR STEP prints it:
#   1. gateway key + weighted strategy over two keyed providers
#   2. + request-limit and token-quota policies (memory counters)
#   3. + redact-pii on requests and answers
#   4. + [usage] records (the full chain)
chain_config() {
  local listen=$1 up=$2 work=$3 step=$4
  cat <<TOML
[server]
listen = "127.0.0.1:$listen"
[plugins]
cache_dir = "$work/cache"
[[keys]]
name = "bench"
secret_env = "SB_BENCH_GATEWAY_KEY"
[providers.a]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$up/v1"
api_key_env = "SB_BENCH_PROVIDER_KEY"
[providers.b]
adapter = "builtin:openai"
base_url = "http://127.0.0.1:$up/v1"
api_key_env = "SB_BENCH_PROVIDER_KEY"
[policies.rpm]
plugin = "builtin:request-limit"
settings = { limit = 1000000000, window_secs = 60 }
[policies.tokens]
plugin = "builtin:token-quota"
settings = { limit = 1000000000000, window_secs = 86400 }
[models."bench"]
strategy = "builtin:weighted"
targets = [{ provider = "a", model = "demo-echo", weight = 2 }, { provider = "b", model = "demo-echo", weight = 1 }]
TOML
  [ "$step" -ge 2 ] && echo 'policies = ["rpm", "tokens"]'
  [ "$step" -ge 3 ] && echo 'redactors = ["builtin:redact-pii"]'
  [ "$step" -ge 4 ] && printf '[usage]\nsqlite_path = "%s/usage.db"\n' "$work"
  return 0
}
