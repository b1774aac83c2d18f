#!/usr/bin/env python3
"""Zones for the batch benchmark (issue 11): N domains c0.bench .. c{N-1}.bench.

Each domain: 2 MX hosts with addresses from a pool of 768 (the three
documentation ranges of RFC 5737), each address with a PTR name that
resolves back to it; SPF "mx include:_spf.espK.bench -all", the
include trees shared between domains (8 ESPs, each 3 levels deep); DMARC
p=reject with rua to the domain itself; a DKIM key at selector s1. A TLS-RPT
record each. Every domain is clean: mailaudit's verdict is "ready to send"
for each (MTA-STS is only announced by none: "mta-sts.missing" is info).

Usage: gen_zones.py DIR N [--split]
  writes DIR/zones/bench.zone, DIR/zones/arpa.zone and DIR/domains.txt;
  with --split each domain is its own zone (DIR/zones/cN.bench.zone): the
  embedded server answers a zone of 100,000 domains' records slowly, and
  many small zones quickly.
"""
import os, sys

KEY = "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAx3apx/Ay7hEuF/BtrE0eZQ7P60nchSdVEiceMEFgl3MyUY9XLiorlK8SjY+F6GE473sZpSV59+SfN4pTbaP/RszsU/97m4nKnpPzVfDNAajUOcKPQd7hRRFlDlCrAXi8FPi2Sdz3qQuRianU4aCr5Ulj4jP0Yr/eE7Ah6CrFm95sJs1U/fraAzW4t21hij/pDcQmWEK4x46ZxlifRZ/UbZdbNIWBFvmqHhQn84yfXnSQrQfUaiFhm+m1vwJeGg5qp8hoyJCkFRKDjePtlc4zKmdNLTXohj2fKa3c/VRYTE0donfL5eDYjx2HZgVrJGIob08jhPZwJGBxiunTIRQnvQIDAQAB"

SOA = "@ IN SOA ns.bench. hostmaster.bench. 1 3600 600 86400 300"


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    split = "--split" in sys.argv[3:]
    zones = os.path.join(out, "zones")
    os.makedirs(zones, exist_ok=True)
    for f in os.listdir(zones):
        os.remove(os.path.join(zones, f))
    z = ["$ORIGIN bench.", "$TTL 3600", SOA,
         "@ IN NS ns.bench.", "ns IN A 198.19.255.53"]
    for k in range(8):
        z.append(f'_spf.esp{k} IN TXT "v=spf1 ip4:198.19.{k}.0/24 include:_spf2.esp{k}.bench -all"')
        z.append(f'_spf2.esp{k} IN TXT "v=spf1 ip4:198.19.{k + 8}.0/24 include:_spf3.esp{k}.bench -all"')
        z.append(f'_spf3.esp{k} IN TXT "v=spf1 ip6:2001:db8:{k}::/48 -all"')
    ptr = ["$ORIGIN arpa.", "$TTL 3600", SOA,
           "@ IN NS ns.bench."]
    pool = [f"{net}.{h}" for net in ("192.0.2", "198.51.100", "203.0.113") for h in range(256)]
    for x, a in enumerate(pool):
        z.append(f"mail{x} IN A {a}")
        o = a.split(".")
        ptr.append(f"{o[3]}.{o[2]}.{o[1]}.{o[0]}.in-addr IN PTR mail{x}.bench.")
    domains = []
    for i in range(n):
        d = f"c{i}"
        # In its own zone (--split), or as names in bench.
        own = [f"$ORIGIN {d}.bench.", "$TTL 3600", SOA, "@ IN NS ns.bench."] if split else None
        at = "@" if split else d
        sub = (lambda name: name) if split else (lambda name: f"{name}.{d}")
        rr = [
            f"{at} IN MX 10 mx1.{d}.bench.",
            f"{at} IN MX 20 mx2.{d}.bench.",
            f"{sub('mx1')} IN A {pool[(2 * i) % len(pool)]}",
            f"{sub('mx2')} IN A {pool[(2 * i + 1) % len(pool)]}",
            f'{at} IN TXT "v=spf1 mx include:_spf.esp{i % 8}.bench -all"',
            f'{sub("_dmarc")} IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{d}.bench"',
            f'{sub("s1._domainkey")} IN TXT "v=DKIM1; k=rsa; {KEY[:200]}" "{KEY[200:]}"',
            f'{sub("_smtp._tls")} IN TXT "v=TLSRPTv1; rua=mailto:tls@{d}.bench"',
        ]
        if split:
            with open(os.path.join(zones, f"{d}.bench.zone"), "w") as f:
                f.write("\n".join(own + rr) + "\n")
        else:
            z.extend(rr)
        domains.append(f"{d}.bench")
    with open(os.path.join(zones, "bench.zone"), "w") as f:
        f.write("\n".join(z) + "\n")
    with open(os.path.join(zones, "arpa.zone"), "w") as f:
        f.write("\n".join(ptr) + "\n")
    with open(os.path.join(out, "domains.txt"), "w") as f:
        f.write("\n".join(domains) + "\n")


if __name__ == "__main__":
    main()
