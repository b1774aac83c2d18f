#!/usr/bin/env bash
# Issue 13 benchmark: a recipient list of N generated addresses (1,000,000)
# over D domains (50,000), each domain its own zone on a local authoritative
# server (examples/zone_server.rs): wall time (farm-bench, median of RUNS),
# peak memory, and questions asked (the server's own count: one per domain
# and type is the floor). The counts of every reason are checked against
# what the generator wrote before any figure is printed. Installs what it
# needs (GNU time). Figures go to docs/benchmarks.md.
#
# The peer, side by side: python-email-validator 2.4.0 (syntax, MX and
# A/AAAA fallback, null MX; one address at a time, with its caching
# resolver), on the same list and server.
#
# Usage: benches/recipients/run.sh [RUNS] [N] [D]     (5, 1000000, 50000)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
N=${2:-1000000}
D=${3:-50000}
LISTEN=${LISTEN:-127.0.0.21}

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
python3 -c "import email_validator" 2>/dev/null || pip install -q email-validator==2.4.0
cargo build --release -q --bin mailaudit --example zone_server
BIN=target/release/mailaudit

DATA=$(mktemp -d)
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$DATA"' EXIT

python3 benches/recipients/gen.py "$DATA" "$N" "$D"
target/release/examples/zone_server --listen "$LISTEN:53" --count-file "$DATA/q" \
  "$DATA/zones" 2>"$DATA/server.log" &
SERVER=$!
for _ in $(seq 3000); do [ -s "$DATA/q" ] && break; sleep 0.1; done
[ -s "$DATA/q" ] || { echo "zone server did not start: $(cat "$DATA/server.log")" >&2; exit 1; }
questions() { sleep 0.3; cat "$DATA/q"; }

RUN=("$BIN" recipients "$DATA/list.csv" --nameserver "$LISTEN" --no-dnsbl --quiet
  --concurrency 256 --retries 2 --format json -o "$DATA/out.json"
  --flagged "$DATA/flagged.csv" --clean "$DATA/clean.csv")

# One run under GNU time: the answers, the questions, the peak memory.
before=$(questions)
/usr/bin/time -f "%e %M" -o "$DATA/time" "${RUN[@]}"
read -r WALL RSS_KB < "$DATA/time"
ASKED=$(( $(questions) - before ))
python3 - "$DATA" <<'PY'
import json, sys
d = sys.argv[1]
want = json.load(open(f"{d}/expected.json"))
c = json.load(open(f"{d}/out.json"))["checks"]["recipients"]
got = {r["id"]: r["rows"] for r in c["reasons"]}
pairs = [("invalid", "recipients.invalid-syntax"), ("nxdomain", "recipients.domain-nxdomain"),
         ("no_mx", "recipients.no-mail-exchanger"), ("null_mx", "recipients.null-mx"),
         ("role", "recipients.role-account"), ("duplicate", "recipients.duplicate")]
assert c["rows"] == want["rows"], (c["rows"], want["rows"])
assert c["domains"] == want["domains"], (c["domains"], want["domains"])
for k, id in pairs:
    assert got.get(id, 0) == want[k], (id, got.get(id), want[k])
assert "recipients.dns-error" not in got, got
print(f"answers checked: {c['rows']} rows, {c['domains']} domains, {got}")
PY
echo "one run: ${WALL} s, peak ${RSS_KB} KB ($((RSS_KB / 1024)) MB), ${ASKED} questions to the server"

# The peer, once, for its answers and questions: python-email-validator
# with check_deliverability and its caching resolver.
before=$(questions)
/usr/bin/time -f "%e %M" -o "$DATA/time" python3 benches/recipients/peer_email_validator.py \
  "$DATA/list.csv" "$LISTEN" | tee "$DATA/peer.txt"
read -r PWALL PRSS_KB < "$DATA/time"
echo "peer one run: ${PWALL} s, peak $((PRSS_KB / 1024)) MB, $(( $(questions) - before )) questions to the server"

# Side by side, in turn: mailaudit (A) and the peer (B).
farm-bench -n "$RUNS" --timeout 3600 --vs "python3 benches/recipients/peer_email_validator.py $DATA/list.csv $LISTEN" -- "${RUN[@]}"
