# Shared by the load scripts (sourced): CPU time of processes and one bounded wrk run.

# CPU time (clock ticks, user + system, all threads) of the processes given.
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    read -r -a f < "/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}

# wrk_run NAME URL "PIDS" CONNECTIONS THREADS SCRIPT SECONDS: one line with req/s,
# p50, p99 and the CPU µs per request of PIDS (the serving processes).
wrk_run() {
  local name=$1 url=$2 pids=$3 c=$4 t=$5 script=$6 secs=$7 out before after
  # shellcheck disable=SC2086
  before=$(cpu_ticks $pids)
  out=$(wrk -t"$t" -c"$c" -d"${secs}s" --latency -s "$script" "$url")
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  local rps p50 p99 n cpu
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  cpu=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  if grep -q "Non-2xx" <<<"$out"; then echo "WARNING: non-2xx answers in $name run" >&2; fi
  printf "%-34s c=%-3s %10s req/s   p50 %-9s p99 %-9s cpu %6s us/req\n" "$name" "$c" "$rps" "$p50" "$p99" "$cpu"
}

# nginx_conf LISTEN_PORT UPSTREAM_PORT WORK_DIR [DIRECTIVE…]: the nginx the gateway is
# compared with — proxy_pass with upstream keep-alive, one worker per core — with any
# extra directives for its location (streams: `proxy_buffering off;`).
nginx_conf() {
  local listen=$1 up=$2 work=$3
  shift 3
  cat <<NGX
worker_processes auto;   # one worker per core, as the gateway has
worker_rlimit_nofile 65536;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$up; keepalive 1024; }
  server {
    listen 127.0.0.1:$listen;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      $*
    }
  }
}
NGX
}
