"""The same sweep as `mailaudit blacklist`, done by pydnsbl (PyPI), for the
benchmark in docs/benchmarks.md.

Usage: pydnsbl_sweep.py SERVER_IP PORT CIDR ZONE...
Prints the number of addresses listed and the elapsed time as JSON.
"""
import asyncio
import ipaddress
import json
import sys
import time

import aiodns
import pydnsbl
from pydnsbl.providers import Provider


def main():
    server, port, cidr, zones = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    addresses = [str(a) for a in ipaddress.ip_network(cidr)]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    checker = pydnsbl.DNSBLIpChecker(
        providers=[Provider(z) for z in zones], timeout=2, tries=2, concurrency=200, loop=loop
    )
    # pydnsbl asks the system resolver; point its aiodns resolver at the
    # benchmark server instead (pycares takes the port as a channel option).
    checker._resolver = aiodns.DNSResolver(
        nameservers=[server], udp_port=port, tcp_port=port, timeout=2, tries=2, loop=loop
    )
    start = time.monotonic()
    results = checker.bulk_check(addresses)
    elapsed = time.monotonic() - start
    listed = sum(len(r.detected_by) for r in results)
    failed = sum(len(r.failed_providers) for r in results)
    print(json.dumps({"addresses": len(addresses), "lists": len(zones), "listings": listed,
                      "failed": failed, "seconds": elapsed,
                      "qps": len(addresses) * len(zones) / elapsed}))


main()
