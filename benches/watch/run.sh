#!/usr/bin/env bash
# Issue 22 benchmark: a round of watches against the CLI batch of the same
# domains. N generated domains (benches/batch/gen_zones.py) are watched
# (`watch add`, checks spf,dmarc,mx,ptr,dkim,mta-sts,tls-rpt,bimi) in a
# fresh SQLite store; `watch run --all --watch-parallel 64` audits them all,
# compares each with its last definitive report, steps its memory and
# stores the report in six formats and a history row; `audit --domains
# --parallel 64` audits the same domains on the same local authoritative
# server (examples/zone_server.rs, 20 ms added to every answer) and writes
# JSON Lines. The two run in turn, RUNS times each; every watch's last
# verdict must be "ready to send" before a time is printed. Also prints the
# store's size per round. Figures go to docs/benchmarks.md.
#
# Usage: benches/watch/run.sh [RUNS] [N]     (5, 1000)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
N=${2:-1000}
DNS=127.0.0.22:5353
CHECKS=spf,dmarc,mx,ptr,dkim,mta-sts,tls-rpt,bimi
COMMON=(--nameserver "$DNS" --no-dnsbl --concurrency 256 --retries 2)

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release -q --bin mailaudit --example zone_server
BIN=target/release/mailaudit

DATA=$(mktemp -d)
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$DATA"' EXIT
python3 benches/batch/gen_zones.py "$DATA" "$N"
target/release/examples/zone_server --listen "$DNS" --latency-ms 20 \
  --count-file "$DATA/q" "$DATA/zones" 2>"$DATA/dns.log" &
SERVER=$!
for _ in $(seq 300); do [ -s "$DATA/q" ] && break; sleep 0.1; done

while read -r d; do
  "$BIN" watch add "$d" --every 1d --checks "$CHECKS" --data "$DATA/store" >/dev/null
done < "$DATA/domains.txt"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
watch_walls=(); batch_walls=(); watch_mem=(); batch_mem=()
for r in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -o "$DATA/time" "$BIN" watch run --all --watch-parallel 64 \
    --data "$DATA/store" "${COMMON[@]}" > "$DATA/watch.out"
  read -r WALL RSS < "$DATA/time"
  "$BIN" watch list --json --data "$DATA/store" > "$DATA/list.json"
  python3 - "$DATA/list.json" "$N" "$r" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))["watches"]
assert len(w) == int(sys.argv[2])
for x in w:
    assert x["runs"] == int(sys.argv[3]), x
    assert x["last"]["verdict"] == "ready-to-send", x
PY
  watch_walls+=("$WALL"); watch_mem+=("$((RSS / 1024))")
  SIZE=$(du -sm "$DATA/store" | cut -f1)
  echo "watch run $r: ${WALL} s, $((RSS / 1024)) MB, store ${SIZE} MB"

  /usr/bin/time -f "%e %M" -o "$DATA/time" "$BIN" audit --domains "$DATA/domains.txt" \
    "${COMMON[@]}" --checks "$CHECKS" --parallel 64 --quiet --format jsonl -o "$DATA/cli.jsonl"
  read -r WALL RSS < "$DATA/time"
  batch_walls+=("$WALL"); batch_mem+=("$((RSS / 1024))")
  echo "CLI batch run $r: ${WALL} s, $((RSS / 1024)) MB"
done
W=$(printf '%s\n' "${watch_walls[@]}" | median)
B=$(printf '%s\n' "${batch_walls[@]}" | median)
echo
echo "| Command | Wall time (median of $RUNS) | Peak memory (median) |"
echo "|---|---|---|"
echo "| watch run --all ($N watches) | $W s | $(printf '%s\n' "${watch_mem[@]}" | median) MB |"
echo "| audit --domains ($N domains) | $B s | $(printf '%s\n' "${batch_mem[@]}" | median) MB |"
python3 -c "print(f'ratio watch/batch: {float(\"$W\")/float(\"$B\"):.2f}')"
