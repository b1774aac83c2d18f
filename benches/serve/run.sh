#!/usr/bin/env bash
# Issue 20 load benchmark: 1,000 audits through `mailaudit serve` (POST,
# then poll until done: benches/serve_load.rs) over a local authoritative
# server that adds 20 ms to every answer (examples/zone_server.rs, the
# zones of benches/batch/gen_zones.py), and the same 1,000 domains through
# the CLI batch (`audit --domains`) as the reference. A fresh service (and
# cache) each run. Prints requests/s, POST and accepted-to-done latency
# (p50/p99), the service's memory at the end, and the CLI's wall time and
# memory. Every report is checked ("ready to send", nothing unknown)
# before a speed is printed. Figures go to docs/benchmarks.md.
#
# Usage: benches/serve/run.sh [RUNS] [N]     (3, 1000)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
N=${2:-1000}
DNS=127.0.0.21:5353
HTTP=127.0.0.1:18099
PARALLEL=64
CHECKS=spf,dmarc,mx,ptr,dkim,mta-sts,tls-rpt,bimi

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release -q --bin mailaudit --example zone_server
cargo bench --no-run -q --bench serve_load 2>/dev/null
LOAD=$(ls -t target/release/deps/serve_load-* | grep -v '\.d$' | head -1)
BIN=target/release/mailaudit

DATA=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DATA"' EXIT

python3 benches/batch/gen_zones.py "$DATA" "$N"
target/release/examples/zone_server --listen "$DNS" --latency-ms 20 \
  --count-file "$DATA/q" "$DATA/zones" 2>"$DATA/dns.log" &
PIDS+=($!)
for _ in $(seq 300); do [ -s "$DATA/q" ] && break; sleep 0.1; done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for r in $(seq "$RUNS"); do
  rm -rf "$DATA/serve"
  "$BIN" serve --listen "$HTTP" --data "$DATA/serve" --nameserver "$DNS" --no-dnsbl \
    --workers "$PARALLEL" --queue 2000 --concurrency 256 --retries 2 2>"$DATA/serve.log" &
  SERVE=$!
  PIDS+=("$SERVE")
  for _ in $(seq 100); do curl -sf "http://$HTTP/healthz" >/dev/null && break; sleep 0.1; done
  "$LOAD" "http://$HTTP" "$DATA/domains.txt" "$PARALLEL" | tee "$DATA/load.$r"
  RSS=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$SERVE/status")
  HWM=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVE/status")
  kill -TERM "$SERVE"; wait "$SERVE" || true
  echo "service memory at the end: ${RSS} MB (peak ${HWM} MB)" | tee -a "$DATA/load.$r"
done

walls=(); rsss=()
for r in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -o "$DATA/time" "$BIN" audit --domains "$DATA/domains.txt" \
    --nameserver "$DNS" --no-dnsbl --checks "$CHECKS" --parallel "$PARALLEL" \
    --concurrency 256 --retries 2 --quiet --format jsonl -o "$DATA/cli.jsonl"
  read -r WALL RSS_KB < "$DATA/time"
  python3 - "$DATA/cli.jsonl" "$N" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == int(sys.argv[2])
for l in lines:
    s = json.loads(l)["summary"]
    assert s["verdict"] == "ready-to-send" and s["unknown"] == 0, s
PY
  walls+=("$WALL"); rsss+=("$((RSS_KB / 1024))")
  echo "CLI batch run $r: ${WALL} s, $((RSS_KB / 1024)) MB"
done

echo
echo "| Run | Wall time | Audits/s | POST p50 / p99 | POST to done p50 / p99 | Memory at the end |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$RUNS"); do
  f="$DATA/load.$r"
  wall=$(sed -n 's/^wall: \([0-9.]*\) s, \([0-9.]*\) audits.*/\1 s | \2/p' "$f")
  post=$(sed -n 's/^POST latency: p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms/\1 \/ \2 ms/p' "$f")
  done_=$(sed -n 's/^POST to done: p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms/\1 \/ \2 ms/p' "$f")
  mem=$(sed -n 's/^service memory at the end: \(.*\)/\1/p' "$f")
  echo "| serve $r | $wall | $post | $done_ | $mem |"
done
echo "| CLI batch (median of $RUNS) | $(printf '%s\n' "${walls[@]}" | median) s | | | | $(printf '%s\n' "${rsss[@]}" | median) MB peak |"
