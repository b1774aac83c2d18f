#!/usr/bin/env bash
# Issue 21 benchmark: the test addresses' SMTP listener under load, against
# Postfix's smtp-sink (a server that takes mail and throws it away) as the
# yardstick. Postfix's smtp-source sends the bundled signed campaign
# (examples/campaign.eml) N times over S parallel sessions to one test
# address of `mailaudit serve --smtp-listen` (offline: the example zones),
# which accepts each message and audits it; then the same to smtp-sink.
# Prints, per round: the time to accept all N (smtp-source's wall time),
# the time until all N audits are done, and smtp-sink's accept time.
# Installs postfix (for smtp-source and smtp-sink) and GNU time.
#
# Usage: benches/listener/run.sh [RUNS] [N] [S]     (5, 500, 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
N=${2:-500}
S=${3:-20}
HTTP=127.0.0.1:18100
SMTP=127.0.0.1:2525
SINK=127.0.0.1:2526

command -v smtp-source >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release -q --bin mailaudit
BIN=target/release/mailaudit

DATA=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DATA" /tmp/mailaudit-listener-bench.base' EXIT
rm -f /tmp/mailaudit-listener-bench.base

"$BIN" serve --listen "$HTTP" --data "$DATA/serve" --smtp-listen "$SMTP" --mail-domain audit.test \
  --zone examples/zones --dnsbl-catalog examples/dnsbl.toml --queue 100000 \
  --smtp-listen-max-per-client 200 --smtp-listen-max-connections 400 2>"$DATA/serve.log" &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://$HTTP/healthz" >/dev/null && break; sleep 0.1; done
ADDRESS=$(curl -sf -X POST "http://$HTTP/api/v1/tests" | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
sink_user=(); [ "$(id -u)" -eq 0 ] && sink_user=(-u nobody)
smtp-sink "${sink_user[@]}" "$SINK" 256 &
PIDS+=($!)
sleep 0.5

accept=(); done_=(); sink=()
for r in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  /usr/bin/time -f "%e" -o "$DATA/t" smtp-source -s "$S" -m "$N" -M mail.example.com \
    -f bounces@example.com -t "$ADDRESS" -F examples/campaign.eml "$SMTP"
  accept+=("$(cat "$DATA/t")")
  python3 benches/listener/wait_done.py "http://$HTTP" "$N" 600
  done_+=("$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")")
  /usr/bin/time -f "%e" -o "$DATA/t" smtp-source -s "$S" -m "$N" -M mail.example.com \
    -f bounces@example.com -t "$ADDRESS" -F examples/campaign.eml "$SINK"
  sink+=("$(cat "$DATA/t")")
  echo "round $r: listener accepted $N in ${accept[-1]} s, all audited in ${done_[-1]} s; smtp-sink accepted $N in ${sink[-1]} s"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "medians: listener accept $(printf '%s\n' "${accept[@]}" | median) s, all audited $(printf '%s\n' "${done_[@]}" | median) s, smtp-sink accept $(printf '%s\n' "${sink[@]}" | median) s"
