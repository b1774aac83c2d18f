#!/usr/bin/env python3
"""Waits until a running `mailaudit serve` has finished N more audits than
when it started waiting: reads mailaudit_audits_finished_total (and
..._failed_total) from /metrics. Exits 1 after TIMEOUT seconds.

Usage: wait_done.py URL N [TIMEOUT]
"""
import sys, time, urllib.request


def finished(url):
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    n = 0
    for line in text.splitlines():
        if line.startswith("mailaudit_audits_finished_total ") or line.startswith(
            "mailaudit_audits_failed_total "
        ):
            n += int(line.split()[1])
    return n


def main():
    url, want = sys.argv[1].rstrip("/"), int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 600
    # The counter when the batch began is in the file the script keeps.
    base_file = "/tmp/mailaudit-listener-bench.base"
    try:
        base = int(open(base_file).read())
    except OSError:
        base = 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = finished(url)
        if n - base >= want:
            open(base_file, "w").write(str(base + want))
            return 0
        time.sleep(0.05)
    print(f"only {finished(url) - base} of {want} audits finished", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
