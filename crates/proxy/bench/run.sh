#!/usr/bin/env bash
# Embedded router benchmarks (BENCHMARKS.md, "Embedded router"), on loopback:
#   1. throughput and latency under the same open-loop load: direct to the
#      stable app, through the embedded router, through nginx (weighted split);
#   2. rollback latency under load (roll_back() call -> no new canary request);
#   3. RSS of the router (and nginx) holding CONNS concurrent connections
#      (default "1000 9000"), and after the load ends (a burst returning to idle).
# Usage: crates/proxy/bench/run.sh [RATES] [DURATION]   e.g. "2000 5000 8000" 10s
#        PHASES="memory" crates/proxy/bench/run.sh        (a subset of: throughput rollback memory)
# Needs: Debian's nginx (apt-get install -y nginx), curl, ss. Ports 18081-18092.
set -euo pipefail
cd "$(dirname "$0")/../../.."
RATES=${1:-"2000 5000 8000"}
DUR=${2:-10s}
T=${CARGO_TARGET_DIR:-target}
PHASES=${PHASES:-"throughput rollback memory"}
DIR=/tmp/canaryd-bench
SP=18081 CP=18082 RP=18090 NP=18091 KP=18092
if [ -z "${SKIP_BUILD:-}" ]; then   # SKIP_BUILD=1: reuse the binaries already built
  cargo build --release -q -p canaryd --bin canaryd
  cargo build --release -q -p canaryd-proxy --example bench_router --example bench_rollback
fi
B=$T/release/canaryd
R=$T/release/examples/bench_router
RB=$T/release/examples/bench_rollback
rm -rf "$DIR" && mkdir -p "$DIR"
# 2 fds per proxied pair: 9,000 pairs need ~18,000 (the hard limit here is 20,000).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 16384 || true
CONNS=${CONNS:-"1000 9000"}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }

$B sample-app --version v1 --port $SP >"$DIR/stable.log" 2>&1 & PIDS+=($!)
$B sample-app --version v2 --port $CP >"$DIR/canary.log" 2>&1 & PIDS+=($!)
wait_port $SP /healthz; wait_port $CP /healthz
sed -e "s#@DIR@#$DIR#g" -e "s/@STABLE_PORT@/$SP/" -e "s/@CANARY_PORT@/$CP/" -e "s/@NGINX_PORT@/$NP/" -e "s/@WEIGHT@/50/" \
    crates/proxy/bench/nginx.conf.in >"$DIR/nginx.conf"
# (Re)starts both front doors, so each phase starts from a fresh process.
start_doors() {
  [ -n "${RPID:-}" ] && kill "$RPID" "$NPID" 2>/dev/null && wait "$RPID" "$NPID" 2>/dev/null || true
  [ -n "${KPID:-}" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null || true
  $R --listen 127.0.0.1:$RP --stable http://127.0.0.1:$SP --canary http://127.0.0.1:$CP --weight 50 --max-connections 20000 >"$DIR/router.log" 2>&1 & RPID=$!; PIDS+=($RPID)
  # The same router without giving memory back after a burst, for comparison.
  $R --listen 127.0.0.1:$KP --stable http://127.0.0.1:$SP --canary http://127.0.0.1:$CP --weight 50 --max-connections 20000 --keep-memory >"$DIR/router-keep.log" 2>&1 & KPID=$!; PIDS+=($KPID)
  nginx -p "$DIR" -c "$DIR/nginx.conf" & NPID=$!; PIDS+=($NPID)
  wait_port $RP /healthz; wait_port $NP /healthz; wait_port $KP /healthz
}
start_doors

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
nginx_rss_kb() { local t=0; for p in $NPID $(pgrep -P $NPID); do t=$((t + $(rss_kb "$p"))); done; echo $t; }

if [[ $PHASES == *throughput* ]]; then
echo "== throughput and latency (open loop, $DUR per run, default route mix)"
for rps in $RATES; do
  for target in direct:$SP router:$RP nginx:$NP; do
    name=${target%%:*}; port=${target##*:}
    out=$($B load --target "http://127.0.0.1:$port" --rps "$rps" --duration "$DUR" --quiet --max-in-flight 2000)
    echo "$rps req/s  $name: $(echo "$out" | head -2 | tr '\n' ' ')"
    sleep 1
  done
done
fi

if [[ $PHASES == *rollback* ]]; then
echo "== rollback latency (in-process router under 2000 req/s)"
$RB 500 2000
fi

if [[ $PHASES == *memory* ]]; then
for n in $CONNS; do
echo "== memory at $n concurrent connections (fresh processes), then idle again"
start_doors
echo "idle RSS: router $(rss_kb $RPID) kB, router-keep-memory $(rss_kb $KPID) kB, nginx (master+workers) $(nginx_rss_kb) kB"
# Both apps answer after 2 s: n/2 req/s x 2 s = n requests (connections) in flight.
for p in $SP $CP; do curl -fs -X POST "http://127.0.0.1:$p/admin/faults" -d '{"latency_ms":"fixed:2000"}' >/dev/null; done
for target in router:$RP:$RPID router-keep-memory:$KP:$KPID nginx:$NP:$NPID; do
  IFS=: read -r name port pid <<<"$target"
  $B load --target "http://127.0.0.1:$port" --rps $((n / 2)) --duration 8s --quiet --max-in-flight $((n * 2)) >"$DIR/mem-$name.txt" &
  LP=$!
  sleep 6
  conns=$(ss -Htn state established "( sport = :$port )" | wc -l)
  if [ "$name" != nginx ]; then rss=$(rss_kb "$pid"); else rss=$(nginx_rss_kb); fi
  wait $LP
  sleep 12   # past the router's idle keep-alive trim check and nginx's upstream keepalive churn
  if [ "$name" != nginx ]; then after=$(rss_kb "$pid"); else after=$(nginx_rss_kb); fi
  echo "$name: $conns client connections established, RSS $rss kB; 12 s after the load: $after kB; load: $(head -1 "$DIR/mem-$name.txt")"
done
for p in $SP $CP; do curl -fs -X POST "http://127.0.0.1:$p/admin/faults" -d '{"latency_ms":"none"}' >/dev/null || true; done
done
fi
