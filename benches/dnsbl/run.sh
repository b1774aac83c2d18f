#!/usr/bin/env bash
# Issue 3 benchmark (a /18 since issue 18): a /18 (16,384 addresses)
# against 20 lists served by a local rbldnsd with 1% of addresses listed,
# by mailaudit and by pydnsbl; and a /16 against one list for peak memory;
# rbldnsd's own limit with dnsperf on the same questions, measured beside
# each mailaudit run (the ratio is taken run by run). Every tool's answers are checked (listings equal the fixture's,
# nothing unknown) before a speed is reported. Figures go to
# docs/benchmarks.md. Installs what it needs (rbldnsd, dnsperf, GNU time,
# pydnsbl).
#
# Usage: benches/dnsbl/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
PORT=${PORT:-5300}
CIDR=198.18.0.0/18        # RFC 2544 benchmarking space
ADDRS=16384
BIG=198.18.0.0/16

need_apt=()
command -v rbldnsd >/dev/null || need_apt+=(rbldnsd)
command -v dnsperf >/dev/null || need_apt+=(dnsperf)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c "import pydnsbl" 2>/dev/null || pip install -q pydnsbl==1.1.7

cargo build --release -q
BIN=target/release/mailaudit

DATA=$(mktemp -d)
chmod 755 "$DATA"   # rbldnsd drops privileges to its own user
RBL_PID=""
trap '[ -n "$RBL_PID" ] && kill "$RBL_PID" 2>/dev/null; rm -rf "$DATA"' EXIT
listed16=$(python3 benches/dnsbl/gen_zones.py "$DATA" "$BIG" 1 1) && mv "$DATA/bl01.data" "$DATA/big.data"
listed=$(python3 benches/dnsbl/gen_zones.py "$DATA" "$CIDR" 20 1)
zones=(); lists=(); names=()
for i in $(seq -w 1 20); do
  zones+=("bl$i.bench.test:ip4set:bl$i.data"); lists+=(--dnsbl "bl$i.bench.test"); names+=("bl$i.bench.test")
done
rbldnsd -n -b "127.0.0.1/$PORT" -w "$DATA" -t 60 "${zones[@]}" big.bench.test:ip4set:big.data >"$DATA/rbldnsd.log" 2>&1 &
RBL_PID=$!
python3 - "$PORT" <<'PY'
import socket, sys, time
name = b"".join(bytes([len(l)]) + l for l in b"2.0.0.127.bl01.bench.test".split(b"."))
q = bytes.fromhex("123401000001000000000000") + name + b"\0\0\1\0\1"
for _ in range(50):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
    try:
        s.sendto(q, ("127.0.0.1", int(sys.argv[1]))); s.recv(512); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("rbldnsd does not answer")
PY

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# The server's own limit: dnsperf sends the same questions as fast as
# rbldnsd answers them (its own count; it then waits for lost ones).
python3 - "$CIDR" "${names[@]}" >"$DATA/queries.txt" <<'PY'
import ipaddress, sys
net, zones = ipaddress.ip_network(sys.argv[1]), sys.argv[2:]
for ip in net:
    rev = ".".join(reversed(str(ip).split(".")))
    for z in zones:
        print(f"{rev}.{z} A")
PY

echo "rbldnsd $(rbldnsd -h 2>&1 | head -1 | sed 's/.*version //'), $listed listings in 20 lists, $RUNS runs each" >&2
: >"$DATA/ma.times"; : >"$DATA/ma.mem"; : >"$DATA/server.qps"; : >"$DATA/share"
for _ in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -o "$DATA/t" "$BIN" blacklist "$CIDR" "${lists[@]}" --nameserver "127.0.0.1:$PORT" \
    --max-addresses "$ADDRS" --format json -o "$DATA/out.json"
  read -r secs kb <"$DATA/t"; echo "$secs" >>"$DATA/ma.times"; echo "$kb" >>"$DATA/ma.mem"
  qps=$(dnsperf -s 127.0.0.1 -p "$PORT" -d "$DATA/queries.txt" -n 1 -q 256 2>/dev/null \
    | awk '/Queries per second/ {print $4}')
  echo "$qps" >>"$DATA/server.qps"
  # mailaudit's questions (the sweep's, the health tests' and the TXT of
  # each listing) per second of its whole run, against the server's.
  python3 -c "import json,sys; q=json.load(open(sys.argv[1]))['stats']['queries']; print(q/float(sys.argv[2])/float(sys.argv[3]))" \
    "$DATA/out.json" "$secs" "$qps" >>"$DATA/share"
done
python3 - "$DATA/out.json" "$listed" <<'PY' >&2
import json, sys
d = json.load(open(sys.argv[1]))
c = d["checks"]["dnsbl"]["counts"]
print("mailaudit counts:", c, "queries:", d["stats"]["queries"])
assert c["listed"] == int(sys.argv[2]) and c["unknown"] == 0, f"mailaudit's answers are wrong: {c}, {sys.argv[2]} listed"
PY
: >"$DATA/py.times"; : >"$DATA/py.mem"
for _ in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -o "$DATA/t" python3 benches/dnsbl/pydnsbl_sweep.py 127.0.0.1 "$PORT" "$CIDR" "${names[@]}" >"$DATA/py.json"
  read -r secs kb <"$DATA/t"; echo "$secs" >>"$DATA/py.times"; echo "$kb" >>"$DATA/py.mem"
done
echo "pydnsbl: $(cat "$DATA/py.json")" >&2
python3 - "$DATA/py.json" "$listed" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["listings"] == int(sys.argv[2]) and d["failed"] == 0, f"pydnsbl's answers are wrong: {d}"
PY
/usr/bin/time -f "%e %M" -o "$DATA/t16" "$BIN" blacklist "$BIG" --dnsbl big.bench.test --nameserver "127.0.0.1:$PORT" \
  --max-addresses 65536 --format json -o "$DATA/out16.json"
read -r secs16 kb16 <"$DATA/t16"
python3 - "$DATA/out16.json" "$listed16" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["checks"]["dnsbl"]["counts"]
assert c["listed"] == int(sys.argv[2]) and c["unknown"] == 0, f"/16: {c}, {sys.argv[2]} listed"
PY

queries=$((ADDRS * 20))
server_qps=$(median <"$DATA/server.qps"); share=$(median <"$DATA/share")
ma=$(median <"$DATA/ma.times"); py=$(median <"$DATA/py.times")
ma_mem=$(median <"$DATA/ma.mem"); py_mem=$(median <"$DATA/py.mem")
python3 - "$ma" "$py" "$ma_mem" "$py_mem" "$secs16" "$kb16" "$queries" "$server_qps" "$share" <<'PY'
import sys
ma, py, ma_mem, py_mem, s16, kb16, q, server, share = map(float, sys.argv[1:])
print(f"| Tool | Median wall time | Queries/s | Peak RSS |")
print(f"|---|---|---|---|")
print(f"| mailaudit | {ma:.2f} s | {q/ma:,.0f} | {ma_mem/1024:.0f} MB |")
print(f"| pydnsbl 1.1.7 | {py:.2f} s | {q/py:,.0f} | {py_mem/1024:.0f} MB |")
print(f"\nThroughput ratio mailaudit/pydnsbl: {py/ma:.1f}x")
print(f"/16 (65,536 addresses) against one list: {s16:.2f} s, {65536/s16:,.0f} queries/s, peak RSS {kb16/1024:.0f} MB")
print(f"rbldnsd's own limit (dnsperf, 256 in flight, median of the runs beside mailaudit's): {server:,.0f} queries/s; mailaudit reaches {share:.0%} of it (median of the paired runs, its whole process)")
PY
