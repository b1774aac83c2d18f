#!/usr/bin/env bash
# Issue 11 benchmark: a batch of 1,000 generated domains (shared SPF include
# trees, DMARC with rua, 2 MX hosts, a DKIM key each) on a local
# authoritative server (examples/zone_server.rs) that adds 20 ms to every
# answer; mailaudit and checkdmarc audit the same domains on the same
# server, one after the other: wall time, questions asked, peak memory.
# Then 100,000 domains, mailaudit alone (no added latency), for memory.
# Answers are checked before any speed is reported. Installs what it needs
# (GNU time, checkdmarc). Figures go to docs/benchmarks.md.
#
# Usage: benches/batch/run.sh [RUNS] [N] [BIG]     (5, 1000, 100000)
#        SKIP_CHECKDMARC=1 to leave checkdmarc out (it takes ~20 minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
N=${2:-1000}
BIG=${3:-100000}
LISTEN=${LISTEN:-127.0.0.20}   # checkdmarc asks port 53
LATENCY=20
PARALLEL=${PARALLEL:-64}
CONCURRENCY=${CONCURRENCY:-256}

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
if [ -z "${SKIP_CHECKDMARC:-}" ]; then
  command -v checkdmarc >/dev/null || pip install -q checkdmarc==6.0.4
fi
cargo build --release -q --bin mailaudit --example zone_server
BIN=target/release/mailaudit

DATA=$(mktemp -d)
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$DATA"' EXIT

serve() { # N LATENCY [--split]: generated zones for N domains, served
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -f "$DATA/q"
  python3 benches/batch/gen_zones.py "$DATA" "$1" ${3:-}
  target/release/examples/zone_server --listen "$LISTEN:53" --latency-ms "$2" \
    --count-file "$DATA/q" "$DATA/zones" 2>"$DATA/server.log" &
  SERVER=$!
  for _ in $(seq 3000); do [ -s "$DATA/q" ] && return; sleep 0.1; done
  echo "zone server did not start: $(cat "$DATA/server.log")" >&2; exit 1
}
questions() { sleep 0.3; cat "$DATA/q"; }

# Runs a command under GNU time; sets WALL (s), RSS (MB), ASKED (questions).
measure() {
  local before; before=$(questions)
  /usr/bin/time -f "%e %M" -o "$DATA/time" "$@"
  read -r WALL RSS_KB < "$DATA/time"
  RSS=$((RSS_KB / 1024))
  ASKED=$(( $(questions) - before ))
}

audit() { # DOMAINS-FILE PARALLEL extra args...: the command line, in AUDIT
  local file=$1 parallel=$2; shift 2
  # DNSSEC and DANE are left out: the generated zones are unsigned and no
  # root zone is served above them, so validation could only say unknown
  # (the figures in docs/benchmarks.md predate both checks).
  AUDIT=("$BIN" audit --domains "$file" --nameserver "$LISTEN" --no-dnsbl
    --checks spf,dmarc,mx,ptr,dkim,mta-sts,tls-rpt,bimi,smtp,message
    --parallel "$parallel" --concurrency "$CONCURRENCY" --retries 2 --quiet "$@")
}

# Every domain reported, each ready to send, nothing unknown.
check_jsonl() { # FILE COUNT
  python3 - "$1" "$2" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == int(sys.argv[2]), f"{len(lines)} reports, not {sys.argv[2]}"
for i, l in enumerate(lines):
    d = json.loads(l)
    assert d["target"]["domain"] == f"c{i}.bench", d["target"]["domain"]
    s = d["summary"]
    assert s["verdict"] == "ready-to-send" and s["unknown"] == 0, (d["target"]["domain"], s, [f["id"] for f in d["findings"]])
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== $N domains, $LATENCY ms per answer"
serve "$N" "$LATENCY"
# One domain at a time (the first 50) gives the same verdicts as the batch.
head -50 "$DATA/domains.txt" > "$DATA/first50.txt"
audit "$DATA/first50.txt" 1 --format jsonl -o "$DATA/slow.jsonl"
"${AUDIT[@]}" 2>/dev/null
check_jsonl "$DATA/slow.jsonl" 50
walls=(); rsss=()
for r in $(seq "$RUNS"); do
  audit "$DATA/domains.txt" "$PARALLEL" --format jsonl -o "$DATA/fast.jsonl"
  measure "${AUDIT[@]}"
  check_jsonl "$DATA/fast.jsonl" "$N"
  walls+=("$WALL"); rsss+=("$RSS"); MA_ASKED=$ASKED
  echo "mailaudit run $r: ${WALL}s, ${RSS} MB, $ASKED questions"
done
MA_WALL=$(printf '%s\n' "${walls[@]}" | median)
MA_RSS=$(printf '%s\n' "${rsss[@]}" | median)

if [ -z "${SKIP_CHECKDMARC:-}" ]; then
  measure checkdmarc "$DATA/domains.txt" -n "$LISTEN" -f json -o "$DATA/checkdmarc.json"
  python3 - "$DATA/checkdmarc.json" "$N" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == int(sys.argv[2]), len(d)
bad = [x["domain"] for x in d if not (x["spf"].get("valid") and x["dmarc"].get("valid") and len(x["mx"]["hosts"]) == 2)]
assert not bad, bad[:5]
PY
  CD_WALL=$WALL; CD_RSS=$RSS; CD_ASKED=$ASKED
  echo "checkdmarc: ${WALL}s, ${RSS} MB, $ASKED questions"
fi

echo "== $BIG domains, no added latency (memory)"
# One zone per domain: the embedded server answers from one zone of
# 800,000 records at a few dozen questions a second, from many small zones
# at full speed.
serve "$BIG" 0 --split
audit "$DATA/domains.txt" "$PARALLEL" --format jsonl -o "$DATA/big.jsonl"
measure "${AUDIT[@]}"
check_jsonl "$DATA/big.jsonl" "$BIG"
echo "mailaudit $BIG: ${WALL}s, ${RSS} MB, $ASKED questions"

echo
echo "| Tool | Domains | Latency | Median wall time | Questions | Peak memory |"
echo "|---|---|---|---|---|---|"
echo "| mailaudit (--parallel $PARALLEL, $RUNS runs) | $N | $LATENCY ms | ${MA_WALL} s | $MA_ASKED | ${MA_RSS} MB |"
[ -n "${CD_WALL:-}" ] && echo "| checkdmarc 6.0.4 (1 run) | $N | $LATENCY ms | ${CD_WALL} s | $CD_ASKED | ${CD_RSS} MB |"
echo "| mailaudit (1 run) | $BIG | 0 ms | ${WALL} s | $ASKED | ${RSS} MB |"
[ -n "${CD_WALL:-}" ] && python3 -c "print(f'ratio (checkdmarc / mailaudit wall time): {float(\"$CD_WALL\") / float(\"$MA_WALL\"):.0f} x')"
exit 0
