"""Writes rbldnsd ip4set data files for the DNSBL benchmark: LISTS lists,
each listing a seeded random 1% of the addresses of CIDR, plus the RFC 5782
test entry 127.0.0.2. Usage: gen_zones.py DIR CIDR LISTS PERCENT"""
import ipaddress
import random
import sys

out, cidr, lists, percent = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
net = list(ipaddress.ip_network(cidr))
rng = random.Random(5782)
total = 0
for i in range(1, lists + 1):
    listed = rng.sample(net, max(1, round(len(net) * percent / 100)))
    total += len(listed)
    with open(f"{out}/bl{i:02}.data", "w") as f:
        f.write(":127.0.0.2:Listed by benchmark list %d, see https://bl%02d.bench.test/$\n" % (i, i))
        f.write("127.0.0.2\n")
        for a in sorted(listed):
            f.write(f"{a}\n")
print(total)
