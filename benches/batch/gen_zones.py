#!/usr/bin/env python3
"""Zones for the batch benchmark (issue 11): N domains c0.bench .. c{N-1}.bench.

Each domain: 2 MX hosts with addresses from a pool of 768 (the three
documentation ranges of RFC 5737), each address with a PTR name that
resolves back to it; SPF "mx include:_spf.espK.bench -all", the
include trees shared between domains (8 ESPs, each 3 levels deep); DMARC
p=reject with rua to the domain itself; a DKIM key at selector s1. Every
domain is clean: mailaudit's verdict is "ready to send" for each.

Usage: gen_zones.py DIR N   (writes DIR/bench.zone, DIR/arpa.zone, DIR/domains.txt)
"""
import os, sys

KEY = "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAx3apx/Ay7hEuF/BtrE0eZQ7P60nchSdVEiceMEFgl3MyUY9XLiorlK8SjY+F6GE473sZpSV59+SfN4pTbaP/RszsU/97m4nKnpPzVfDNAajUOcKPQd7hRRFlDlCrAXi8FPi2Sdz3qQuRianU4aCr5Ulj4jP0Yr/eE7Ah6CrFm95sJs1U/fraAzW4t21hij/pDcQmWEK4x46ZxlifRZ/UbZdbNIWBFvmqHhQn84yfXnSQrQfUaiFhm+m1vwJeGg5qp8hoyJCkFRKDjePtlc4zKmdNLTXohj2fKa3c/VRYTE0donfL5eDYjx2HZgVrJGIob08jhPZwJGBxiunTIRQnvQIDAQAB"

def main():
    out, n = sys.argv[1], int(sys.argv[2])
    z = ["$ORIGIN bench.", "$TTL 3600",
         "@ IN SOA ns.bench. hostmaster.bench. 1 3600 600 86400 300",
         "@ IN NS ns.bench.", "ns IN A 198.19.255.53"]
    for k in range(8):
        z.append(f'_spf.esp{k} IN TXT "v=spf1 ip4:198.19.{k}.0/24 include:_spf2.esp{k}.bench -all"')
        z.append(f'_spf2.esp{k} IN TXT "v=spf1 ip4:198.19.{k + 8}.0/24 include:_spf3.esp{k}.bench -all"')
        z.append(f'_spf3.esp{k} IN TXT "v=spf1 ip6:2001:db8:{k}::/48 -all"')
    ptr = ["$ORIGIN arpa.", "$TTL 3600",
           "@ IN SOA ns.bench. hostmaster.bench. 1 3600 600 86400 300",
           "@ IN NS ns.bench."]
    pool = [f"{net}.{h}" for net in ("192.0.2", "198.51.100", "203.0.113") for h in range(256)]
    for x, a in enumerate(pool):
        z.append(f"mail{x} IN A {a}")
        o = a.split(".")
        ptr.append(f"{o[3]}.{o[2]}.{o[1]}.{o[0]}.in-addr IN PTR mail{x}.bench.")
    domains = []
    for i in range(n):
        d = f"c{i}"
        z.append(f"{d} IN MX 10 mx1.{d}.bench.")
        z.append(f"{d} IN MX 20 mx2.{d}.bench.")
        for h in (1, 2):
            z.append(f"mx{h}.{d} IN A {pool[(2 * i + h - 1) % len(pool)]}")
        z.append(f'{d} IN TXT "v=spf1 mx include:_spf.esp{i % 8}.bench -all"')
        z.append(f'_dmarc.{d} IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{d}.bench"')
        z.append(f's1._domainkey.{d} IN TXT "v=DKIM1; k=rsa; {KEY[:200]}" "{KEY[200:]}"')
        domains.append(f"{d}.bench")
    with open(os.path.join(out, "bench.zone"), "w") as f:
        f.write("\n".join(z) + "\n")
    with open(os.path.join(out, "arpa.zone"), "w") as f:
        f.write("\n".join(ptr) + "\n")
    with open(os.path.join(out, "domains.txt"), "w") as f:
        f.write("\n".join(domains) + "\n")

if __name__ == "__main__":
    main()
