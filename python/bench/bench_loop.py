#!/usr/bin/env python3
"""The Python package against the seed's pure-Python loop, in one run on this machine.

    python python/bench/bench_loop.py [--agents 1000] [--batch-packets 20000] [--qis QIS_BINARY]

1. **Deposit plus consult.** The seed's loop (bench/seed_baseline.py: our own re-implementation
   of what the seed's minimal loop does: dict routing table, SHA-256 fingerprint, most-common
   result) against `qis.Node` on the memory router and on the embedded store: `--agents`
   deposits at one problem, then as many consultations (limit 50, frequency synthesis). Each side
   is timed as a whole, median of five repeats.
2. **Batched deposits into the embedded store.** `Node.deposit_many` of `--batch-packets`
   outcomes in batches of 1,000 into a fresh store, against the Rust CLI's batched path (`qis
   import` of the same packets, batches of 1,000, into a fresh store, timed as a process).

Prints a markdown table and one JSON object. Build the extension in release first
(`scripts/bench-python` does: `maturin develop --release`, `cargo build --release -p qis-cli`).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import seed_baseline as seed  # noqa: E402

import qis  # noqa: E402

DOMAIN = seed.DOMAIN
CONTEXT = seed.CONTEXT


def median_time(run, repeats: int = 5) -> float:
    run()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seed_loop(outcomes):
    def deposits():
        table = seed.Table()
        for agent, hba1c, adherence, protocol in outcomes:
            result = {"hba1c_reduction": hba1c, "adherence": adherence, "protocol": protocol}
            table.deposit(seed.build_packet(agent, DOMAIN, CONTEXT, result))
        return table

    table = deposits()

    def consults():
        for _ in outcomes:
            seed.most_common_result(table.query(DOMAIN, CONTEXT))

    return median_time(deposits), median_time(consults)


def qis_loop(outcomes, router: str):
    counter = iter(range(10**9))

    def fresh():
        where = router if router == "memory:" else f"file:{tempfile.mkdtemp(prefix='qis-bench-')}"
        return qis.Node(f"bench_{next(counter)}", router=where, embedder="hashed")

    def deposits(node=None):
        node = node or fresh()
        for _agent, hba1c, adherence, protocol in outcomes:
            node.deposit(DOMAIN, CONTEXT, outcome="resolved", confidence=0.8,
                         result={"hba1c_reduction": hba1c, "adherence": adherence,
                                 "protocol": protocol})
        return node

    node = deposits()

    def consults():
        for _ in outcomes:
            node.consult(DOMAIN, CONTEXT, method="frequency", limit=50)

    return median_time(lambda: deposits().close()), median_time(consults)


def batched(qis_bin: str, packets: int):
    items = [{"domain": DOMAIN, "context": {"condition": f"c{i % 97}", "intervention_type": "GLP1"},
              "outcome": "resolved", "confidence": 0.8,
              "result": {"hba1c_reduction": round(1 + (i % 50) / 100, 2), "protocol": "once_weekly"}}
             for i in range(packets)]

    def python_side():
        with qis.Node("bench_batch", data=tempfile.mkdtemp(prefix="qis-bench-")) as n:
            for i in range(0, len(items), 1000):
                n.deposit_many(items[i:i + 1000])

    # The same packets for the CLI: deposited once, exported as JSON Lines.
    source = tempfile.mkdtemp(prefix="qis-bench-")
    with qis.Node("bench_batch", data=source) as n:
        for i in range(0, len(items), 1000):
            n.deposit_many(items[i:i + 1000])
    lines = pathlib.Path(source) / "packets.jsonl"
    with open(lines, "w") as f:
        subprocess.run([qis_bin, "--data", source, "export"], stdout=f, check=True)

    def cli_side():
        subprocess.run([qis_bin, "--data", tempfile.mkdtemp(prefix="qis-bench-"), "import",
                        str(lines), "--batch", "1000"], check=True, capture_output=True)

    return median_time(python_side, 3), median_time(cli_side, 3)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--batch-packets", type=int, default=20000)
    p.add_argument("--qis", default=str(ROOT / "target/release/qis"))
    a = p.parse_args()
    import random

    outcomes = seed.draws(random.Random(7), a.agents)
    n = a.agents
    rows = {}
    seed_dep, seed_con = seed_loop(outcomes)
    rows["seed"] = (n / seed_dep, n / seed_con, n / (seed_dep + seed_con))
    for name, router in [("qis memory", "memory:"), ("qis embedded", "file")]:
        dep, con = qis_loop(outcomes, router)
        rows[name] = (n / dep, n / con, n / (dep + con))
    py_batch, cli_batch = batched(a.qis, a.batch_packets)

    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"\n| loop ({n} deposits, then {n} consults) | deposits/s | consults/s | deposit + consult /s | vs the seed |")
    print("|---|---|---|---|---|")
    for name, (d, c, both) in rows.items():
        print(f"| {name} | {d:,.0f} | {c:,.0f} | {both:,.0f} | {both / rows['seed'][2]:.1f}× |")
    print(f"\n| batched deposits into the embedded store ({a.batch_packets:,} packets, batches of 1,000) | packets/s |")
    print("|---|---|")
    print(f"| Python `Node.deposit_many` | {a.batch_packets / py_batch:,.0f} |")
    print(f"| Rust CLI `qis import` (whole process) | {a.batch_packets / cli_batch:,.0f} |")
    print(f"| Python / CLI | {cli_batch / py_batch:.0%} |")
    print(json.dumps({"rows": rows, "batch": {"python_s": py_batch, "cli_s": cli_batch,
                                               "packets": a.batch_packets}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
