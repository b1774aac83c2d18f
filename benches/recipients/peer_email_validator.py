#!/usr/bin/env python3
"""The peer: python-email-validator (check_deliverability: MX, then A/AAAA
fallback, null MX) over the same list, asking the benchmark's server, with
its caching resolver (one lookup per domain). Prints the counts that
compare with mailaudit's: invalid syntax, and undeliverable domains.

Usage: peer_email_validator.py LIST.csv SERVER-IP
"""
import csv, sys

import dns.resolver
from email_validator import EmailNotValidError, EmailUndeliverableError, caching_resolver, validate_email

path, server = sys.argv[1], sys.argv[2]
resolver = caching_resolver(timeout=5)
resolver.nameservers = [server]
invalid = undeliverable = rows = 0
with open(path, newline="") as f:
    for row in csv.DictReader(f):
        rows += 1
        try:
            validate_email(row["email"], check_deliverability=True, dns_resolver=resolver)
        except EmailUndeliverableError:
            undeliverable += 1
        except EmailNotValidError:
            invalid += 1
print(f"rows {rows} invalid {invalid} undeliverable {undeliverable}")
