#!/usr/bin/env python3
"""Data for the recipient-list benchmark (issue 13).

D domains r0.bench .. r{D-1}.bench, each its own zone (the embedded server
answers many small zones quickly and one huge zone slowly), under a
bench. zone that answers NXDOMAIN for the ones left out:
  i % 100 <  89  MX
  i % 100 in 89..92  an address only (A): mail falls back to it
  i % 100 in 93..94  no MX and no address (a TXT record only)
  i % 100 == 95      null MX (MX 0 .)
  i % 100 >= 96      not generated: NXDOMAIN
and a list of N rows (header "email,name"), row k at r{k % D}.bench:
every 200th row is invalid (no @), every 100th repeats row k-1 (in upper
case, which the domain part ignores), every 97th is info@ (a role account).
The expected count of every reason goes to DIR/expected.json.

Usage: gen.py DIR N D
"""
import json, os, sys


def main():
    out, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    zones = os.path.join(out, "zones")
    os.makedirs(zones, exist_ok=True)
    soa = "@ IN SOA ns.bench. hostmaster.bench. 1 3600 600 86400 300"
    with open(os.path.join(zones, "bench.zone"), "w") as f:
        f.write("\n".join(["$ORIGIN bench.", "$TTL 3600", soa, "@ IN NS ns.bench.",
                           "ns IN A 198.19.255.53", "mx IN A 198.19.0.25", ""]))
    kind = {}
    for i in range(d):
        m = i % 100
        k = ("mx" if m < 89 else "a" if m < 93 else "none" if m < 95
             else "null" if m == 95 else "nx")
        kind[i] = k
        if k == "nx":
            continue
        rec = {"mx": "@ IN MX 10 mx.bench.", "a": "@ IN A 198.19.0.26",
               "none": '@ IN TXT "v=spf1 -all"', "null": "@ IN MX 0 ."}[k]
        with open(os.path.join(zones, f"r{i}.bench.zone"), "w") as f:
            f.write(f"$ORIGIN r{i}.bench.\n$TTL 3600\n{soa}\n@ IN NS ns.bench.\n{rec}\n")
    expected = {k: 0 for k in ["rows", "invalid", "nxdomain", "no_mx", "null_mx",
                               "role", "duplicate", "domains"]}
    used = set()
    with open(os.path.join(out, "list.csv"), "w") as f:
        f.write("email,name\n")
        prev = None
        for k in range(n):
            i = k % d
            if k % 200 == 0:
                addr = f"user{k}.r{i}.bench"
                expected["invalid"] += 1
            elif k % 100 == 50 and prev:
                local, dom = prev.split("@")
                addr = f"{local}@{dom.upper()}"
                expected["duplicate"] += 1
                i = int(dom[1:].split(".")[0])
            elif k % 97 == 0:
                addr = f"info@r{i}.bench"
                expected["role"] += 1
            else:
                addr = f"user{k}@r{i}.bench"
            if "@" in addr:
                used.add(i)
                reason = {"none": "no_mx", "null": "null_mx", "nx": "nxdomain"}.get(kind[i])
                if reason:
                    expected[reason] += 1
                if not addr.startswith("info@"):
                    prev = addr
            f.write(f"{addr},Person {k}\n")
            expected["rows"] += 1
    # (An info@ row would repeat a mailbox only after lcm(97, D) rows:
    # 4,850,000 for D = 50,000.)
    expected["domains"] = len(used)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


main()
