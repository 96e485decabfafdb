#!/usr/bin/env python3
"""Checks what perf/suite.sh wrote: the generated region of a performance.md
and the two SVG plots next to it.

    check_suite.py FILE --sessions 1000,10000,100000

Fails (exit 1, one line per problem) when a table row is missing, a cell is
not a number or not `median [min–max]` with min <= median <= max, the plain
forwarding reference is not faster than the UPF, percentiles are out of
order, a request of a run was refused, a steady session lost packets in most
churn runs, or a plot does not parse or lacks its points. Stdlib only.
"""
import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET

NUM = r"-?[0-9][0-9 ]*(?:\.[0-9]+)?"
RANGE = re.compile(rf"^({NUM}) \[({NUM})–({NUM})\]$")
problems = []


def bad(msg):
    problems.append(msg)


def number(cell, where):
    s = cell.strip().replace("\u2009", " ")
    s = re.sub(r"\s*(µs|ms|B)$", "", s)
    if not re.fullmatch(NUM, s):
        bad(f"{where}: {cell!r} is not a number")
        return None
    return float(s.replace(" ", ""))


def ranged(cell, where):
    s = re.sub(r"\s*(µs|ms)$", "", cell.strip())
    m = RANGE.match(s)
    if not m:
        bad(f"{where}: {cell!r} is not `median [min–max]`")
        return None
    med, lo, hi = (float(x.replace(" ", "")) for x in m.groups())
    if not lo <= med <= hi:
        bad(f"{where}: {cell!r}: median outside [min, max]")
    return med


def table_after(text, heading):
    """Rows (lists of cells) of the first table after a `### heading`."""
    i = text.find("### " + heading)
    if i < 0:
        bad(f"section {heading!r} is missing")
        return []
    rows = []
    started = False
    for line in text[i:].splitlines()[1:]:
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif started:
            break
        elif line.startswith("### "):
            break
    return rows[1:]  # without the header row


def pretty(s):
    return {1000: "1 000", 10000: "10 000", 100000: "100 000", 1000000: "1 000 000"}.get(s, str(s))


def check_mpps(text, sessions):
    rows = table_after(text, "Mpps per core")
    seen = set()
    for r in rows:
        where = f"Mpps row {' / '.join(r[:3])}"
        if len(r) != 8:
            bad(f"{where}: {len(r)} cells, expected 8")
            continue
        upf = ranged(r[3], where)
        ref = ranged(r[4], where)
        ratio = number(r[5], where)
        ranged(r[6], where)
        ranged(r[7], where)
        if upf is not None and upf <= 0:
            bad(f"{where}: UPF Mpps {upf} is not positive")
        if ratio is not None and ratio <= 1:
            bad(f"{where}: the no-processing reference is not faster than the UPF (ratio {ratio})")
        seen.add((r[0], r[1], r[2]))
    for s in sessions:
        for d in ("uplink", "downlink"):
            for b in ("in-memory", "DPDK net_ring"):
                if (pretty(s), d, b) not in seen:
                    bad(f"Mpps table has no row for {pretty(s)} sessions, {d}, {b}")


def check_callgrind(text, sessions):
    rows = table_after(text, "Instructions per packet")
    seen = set()
    for r in rows:
        where = f"callgrind row {' / '.join(r[:2])}"
        if len(r) != 5:
            bad(f"{where}: {len(r)} cells, expected 5")
            continue
        upf, ref, ratio = (number(c, where) for c in r[2:5])
        if None not in (upf, ref) and not upf > ref > 0:
            bad(f"{where}: UPF {upf} and reference {ref} instructions: expected UPF > reference > 0")
        if None not in (upf, ref, ratio) and abs(upf / ref - ratio) > 0.06:
            bad(f"{where}: ratio {ratio} is not {upf}/{ref}")
        seen.add((r[0], r[1]))
    for s in sessions:
        for d in ("uplink", "downlink"):
            if (pretty(s), d) not in seen:
                bad(f"callgrind table has no row for {pretty(s)} sessions, {d}")


def check_pfcp(text):
    rows = table_after(text, "Session establishment and rule updates")
    if len(rows) != 3:
        bad(f"establishment table: {len(rows)} rows, expected 3")
    for r in rows:
        where = f"establishment row {r[0]!r}"
        if len(r) != 6:
            bad(f"{where}: {len(r)} cells")
            continue
        number(r[1], where)
        if r[2] != "–":
            rate = ranged(r[2], where)
            if rate is not None and rate <= 0:
                bad(f"{where}: rate {rate}")
        ps = [ranged(c, where) for c in r[3:6]]
        unit = [c.strip().split()[-1] for c in r[3:6]]
        if None not in ps and len(set(unit)) == 1 and not ps[0] <= ps[1] <= ps[2]:
            bad(f"{where}: p50 {ps[0]}, p99 {ps[1]}, p99.9 {ps[2]} are out of order")
    if "Every request of every run was accepted." not in text:
        bad("establishment: the suite does not say that every request was accepted")


def check_memory(text, sessions):
    rows = table_after(text, "Memory per session")
    if len(rows) != len(sessions):
        bad(f"memory table: {len(rows)} rows, expected {len(sessions)}")
    for r in rows:
        where = f"memory row {r[0]}"
        acct = number(r[1], where)
        number(r[2], where)
        if acct is not None and not 100 < acct < 4096:
            bad(f"{where}: engine accounting {acct} B per session is implausible")


def check_churn(text):
    rows = table_after(text, "Loss under churn")
    if len(rows) != 1:
        bad(f"churn table: {len(rows)} rows, expected 1")
        return
    r = rows[0]
    where = "churn row"
    sent = ranged(r[0], where)
    steady = ranged(r[1], where)
    ranged(r[2], where)
    mods = ranged(r[3], where)
    ranged(r[4], where)
    if sent is not None and sent <= 0:
        bad("churn: no packet sent")
    if mods is not None and mods <= 0:
        bad("churn: no modification accepted")
    if steady is not None and steady != 0:
        bad(f"churn: steady sessions lost packets (median {steady} per run)")


def check_svg(path, want_points):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        bad(f"{path}: {e}")
        return
    pts = [c for c in root.iter("{http://www.w3.org/2000/svg}circle") if c.get("class") == "point"]
    if len(pts) < want_points:
        bad(f"{path}: {len(pts)} points, expected at least {want_points}")
    for c in pts:
        try:
            x, y = float(c.get("data-x")), float(c.get("data-y"))
            if not (x > 0 and y > 0):
                raise ValueError
        except (TypeError, ValueError):
            bad(f"{path}: point with data-x={c.get('data-x')!r} data-y={c.get('data-y')!r}")
            break
    if not list(root.iter("{http://www.w3.org/2000/svg}polyline")):
        bad(f"{path}: no polyline")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--sessions", required=True)
    a = ap.parse_args()
    sessions = [int(s) for s in a.sessions.split(",")]
    text = open(a.file, encoding="utf-8").read()
    b, e = text.find("<!-- suite:begin -->"), text.find("<!-- suite:end -->")
    if b < 0 or e < b:
        print(f"check_suite: {a.file}: no suite region", file=sys.stderr)
        return 1
    region = text[b:e]
    check_mpps(region, sessions)
    check_callgrind(region, sessions)
    check_pfcp(region)
    check_memory(region, sessions)
    check_churn(region)
    img = os.path.join(os.path.dirname(os.path.abspath(a.file)), "img")
    # 2 directions x 2 backends x (UPF, reference) series, one point per session count.
    check_svg(os.path.join(img, "mpps-vs-sessions.svg"), 8 * len(sessions))
    check_svg(os.path.join(img, "latency.svg"), 6)
    for p in problems:
        print(f"check_suite: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_suite: {a.file}: every table and plot checks out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
