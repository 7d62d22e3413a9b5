#!/usr/bin/env python3
"""CPython baseline for the qis core benchmarks: the seed's in-memory loop, timed step by step.

This is our own re-implementation of what the seed's minimal loop does, nothing more:

* an address is the first 16 hex digits of SHA-256 over
  ``json.dumps({"domain": ..., "context_keys": sorted(keys)}, sort_keys=True)``;
* a packet is a plain dict (agent, domain, address, result, ISO timestamp);
* the routing table is a ``defaultdict(list)``: deposit appends, a query fingerprints the problem
  and returns the newest ``limit`` entries of the list;
* synthesis counts each packet's ``result`` by its ``json.dumps(..., sort_keys=True)`` text and
  keeps the most common one, with its share.

Each operation is timed with ``time.perf_counter`` over many calls, repeated; the median of the
repeats is reported (criterion reports medians too). Output: one JSON object on stdout, ops/s per
operation, plus the settings used. Python's standard library only.

    python3 bench/seed_baseline.py [--quick]
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone

DOMAIN = "clinical_trial"
CONTEXT = {"condition": "T2D", "intervention_type": "GLP1"}
PROTOCOLS = ("once_weekly", "twice_weekly")
LIMIT = 50


# ── the loop under test ──────────────────────────────────────────────────────


def address_of(domain: str, context: dict) -> str:
    """Domain plus sorted context keys, canonical JSON, SHA-256, 16 hex digits."""
    text = json.dumps({"domain": domain, "context_keys": sorted(context)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_packet(agent: str, domain: str, context: dict, result: dict) -> dict:
    return {
        "agent": agent,
        "domain": domain,
        "context_fingerprint": address_of(domain, context),
        "result": result,
        "timestamp": datetime.now(timezone.utc).isoformat(),
    }


class Table:
    """The in-memory routing layer: address → list of packets, oldest first."""

    def __init__(self) -> None:
        self.buckets: defaultdict[str, list[dict]] = defaultdict(list)

    def deposit(self, packet: dict) -> str:
        address = packet["context_fingerprint"]
        self.buckets[address].append(packet)
        return address

    def query(self, domain: str, context: dict, limit: int = LIMIT) -> list[dict]:
        return self.buckets[address_of(domain, context)][-limit:]

    def read(self, address: str, limit: int = LIMIT) -> list[dict]:
        """The same read with the address already known (no fingerprint)."""
        return self.buckets[address][-limit:]


def most_common_result(packets: list[dict]) -> dict:
    if not packets:
        return {"insight": None, "sample_size": 0}
    counts: defaultdict[str, int] = defaultdict(int)
    for p in packets:
        counts[json.dumps(p["result"], sort_keys=True)] += 1
    best = max(counts, key=counts.__getitem__)
    return {
        "insight": json.loads(best),
        "sample_size": len(packets),
        "consensus_rate": counts[best] / len(packets),
    }


# ── inputs like the seed's demo ──────────────────────────────────────────────


def draws(rng: random.Random, n: int) -> list[tuple[str, float, float, str]]:
    """n outcomes from n agents: (agent, hba1c_reduction, adherence, protocol)."""
    return [
        (
            f"site_{i:04d}",
            round(rng.gauss(1.2, 0.3), 2),
            round(rng.uniform(0.6, 0.95), 2),
            rng.choice(PROTOCOLS),
        )
        for i in range(n)
    ]


# ── timing ────────────────────────────────────────────────────────────────────


def rate(run, ops_per_call: int, calls: int, repeats: int) -> dict:
    """Median ops/s over `repeats` timings of `calls` calls of `run` (each doing ops_per_call ops).

    Whatever `run` returns is kept until the repeat's clock stops, then freed untimed."""
    run()  # warm up
    rates = []
    for _ in range(repeats):
        kept = []  # what run() returns is freed after the timing, as criterion drops outputs
        start = time.perf_counter()
        for _ in range(calls):
            kept.append(run())
        elapsed = time.perf_counter() - start
        del kept
        rates.append(ops_per_call * calls / elapsed)
    return {
        "ops_per_s": statistics.median(rates),
        "best_ops_per_s": max(rates),
        "ops_timed": ops_per_call * calls * repeats,
    }


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    scale = 10 if quick else 1
    repeats = 3 if quick else 7
    rng = random.Random(7)
    results: dict[str, dict] = {}

    # deposit: build each packet (result dict, fingerprint, timestamp) and deposit it, 1000 per
    # fresh table, as the seed's demo loop does per agent.
    batch = draws(rng, 1000)

    def make_and_deposit() -> Table:
        table = Table()
        for agent, hba1c, adherence, protocol in batch:
            result = {"hba1c_reduction": hba1c, "adherence": adherence, "protocol": protocol}
            table.deposit(build_packet(agent, DOMAIN, CONTEXT, result))
        return table

    results["deposit"] = rate(make_and_deposit, len(batch), 40 // scale, repeats)

    # deposit of prebuilt packets only (the list append).
    prebuilt = [
        build_packet(a, DOMAIN, CONTEXT, {"hba1c_reduction": h, "adherence": d, "protocol": p})
        for a, h, d, p in batch
    ]

    def deposit_prebuilt() -> Table:
        table = Table()
        for packet in prebuilt:
            table.deposit(packet)
        return table

    results["deposit_prebuilt"] = rate(deposit_prebuilt, len(prebuilt), 400 // scale, repeats)

    # query: 20 addresses × 200 packets; query the seed's problem with limit 50.
    table = Table()
    for a in range(20):
        domain = DOMAIN if a == 0 else f"trial_{a:02d}"
        for agent, h, d, p in draws(rng, 200):
            result = {"hba1c_reduction": h, "adherence": d, "protocol": p}
            table.deposit(build_packet(agent, domain, CONTEXT, result))
    assert len(table.buckets) == 20
    assert len(table.query(DOMAIN, CONTEXT)) == LIMIT
    target = address_of(DOMAIN, CONTEXT)

    def query_1000() -> None:
        for _ in range(1000):
            table.query(DOMAIN, CONTEXT, LIMIT)

    def read_1000() -> None:
        for _ in range(1000):
            table.read(target, LIMIT)

    results["query_limit50"] = rate(query_1000, 1000, 60 // scale, repeats)
    results["query_limit50_prefp"] = rate(read_1000, 1000, 300 // scale, repeats)

    # synthesis: the most common result among 50 packets from 50 agents.
    hits = table.query(DOMAIN, CONTEXT, LIMIT)
    assert len({p["agent"] for p in hits}) == LIMIT
    assert most_common_result(hits)["sample_size"] == LIMIT

    def synth_100() -> None:
        for _ in range(100):
            most_common_result(hits)

    results["synth50"] = rate(synth_100, 100, 60 // scale, repeats)

    print(
        json.dumps(
            {
                "python": platform.python_implementation() + " " + platform.python_version(),
                "repeats": repeats,
                "statistic": "median of repeats",
                "results": results,
            },
            indent=None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
