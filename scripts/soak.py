#!/usr/bin/env python3
"""Mixed load against a running `qis serve` for a while, sampled every minute (scripts/soak).

The load, in threads, each on keep-alive connections of its own:
- depositors: batches of 20 packets with 64-d vectors and a 90-second TTL, so that the store's
  live set (and so the memory it may rightly take) stops growing after the first minutes;
- readers: exact GET queries of the addresses in use, and vector POST queries;
- a watcher: event streams on an address, reopened every 20 s;
- a janitor: forgets of its own packets every 3 s, and a purge every 10 s.

Every answer is expected to be a success: any other status is counted as an error, by status and
code. Each minute: the node's resident memory (VmRSS), its open file descriptors, requests, p50 and
p99 latency, errors. The minutes go to a CSV, a Markdown table and an SVG plot in --out.
Standard library only.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import threading
import time
import urllib.parse
import uuid

ADDRESSES = [f"{i:016x}" for i in range(0x5a0a_0000_0000_0000, 0x5a0a_0000_0000_0000 + 64)]
DIM = 64


def uuid7(ms):
    b = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def vector(rng):
    v = [rng.gauss(0, 1) for _ in range(DIM)]
    n = sum(x * x for x in v) ** 0.5 or 1.0
    return [round(x / n, 5) for x in v]


class Stats:
    """Latencies and errors of the current minute, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.errors = {}
        self.requests = 0

    def record(self, seconds, status, code=None):
        with self.lock:
            self.requests += 1
            self.latencies.append(seconds)
            if not 200 <= status < 300:
                key = f"{status} {code or ''}".strip()
                self.errors[key] = self.errors.get(key, 0) + 1

    def take(self):
        with self.lock:
            taken = (self.requests, self.latencies, self.errors)
            self.latencies, self.errors, self.requests = [], {}, 0
            return taken


class Client:
    def __init__(self, base, token, stats):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.token, self.stats = token, stats
        self.conn = None

    def call(self, method, path, body=None):
        headers = {"authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        for attempt in range(2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            start = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self.conn.close()
                self.conn = None
                # Only a kept-alive connection that the node had closed while it sat idle (its
                # idle timeout), failing before any answer, is tried again unrecorded; any other
                # failure, a timeout above all, is an error with its time.
                idle_close = isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError,
                                            ConnectionResetError))
                if attempt == 0 and reused and idle_close:
                    continue
                self.stats.record(time.perf_counter() - start, 599, type(e).__name__)
                return 599, None
            elapsed = time.perf_counter() - start
            if r.getheader("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            try:
                answer = json.loads(payload) if payload else None
            except ValueError:
                answer = None
            code = answer.get("code") if isinstance(answer, dict) else None
            self.stats.record(elapsed, r.status, code)
            return r.status, answer
        return 599, None


def depositor(base, agent, token, stats, stop, mine, seed):
    rng = random.Random(seed)
    c = Client(base, token, stats)
    while not stop.is_set():
        now = int(time.time() * 1000)
        items = []
        for _ in range(20):
            p = {
                "id": uuid7(now),
                "agent": agent,
                "domain": "soak",
                "address": rng.choice(ADDRESSES),
                "outcome": rng.choice(["resolved", "partial", "contradicted", "open"]),
                "confidence": round(rng.random(), 3),
                "result": {"dose": rng.randint(1, 9)},
                "tags": [rng.choice(["a", "b", "c"])],
                "created": now,
                "ttl": 90,
            }
            items.append({"packet": p, "vector": vector(rng)})
        status, _ = c.call("POST", "/v1/packets", {"packets": items})
        if status == 200:
            with mine[1]:
                mine[0].extend(i["packet"]["id"] for i in items)
                del mine[0][:-2000]


def reader(base, token, stats, stop, seed):
    rng = random.Random(seed)
    c = Client(base, token, stats)
    while not stop.is_set():
        if rng.random() < 0.5:
            a = rng.choice(ADDRESSES)
            c.call("GET", f"/v1/addresses/{a}/packets?limit=50&min_confidence=0.2&tags_any=a,b")
        else:
            c.call("POST", "/v1/query", {"vector": vector(rng), "limit": 10,
                                         "filter": {"domain": "soak"}})


def watcher(base, token, stats, stop):
    u = urllib.parse.urlparse(base)
    while not stop.is_set():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        start = time.perf_counter()
        try:
            conn.request("GET", f"/v1/addresses/{ADDRESSES[0]}/events",
                         headers={"authorization": f"Bearer {token}"})
            r = conn.getresponse()
            stats.record(time.perf_counter() - start, r.status)
            until = time.time() + 20
            while time.time() < until and not stop.is_set():
                if not r.fp.readline():
                    break
        except (ConnectionError, http.client.HTTPException, OSError):
            stats.record(time.perf_counter() - start, 599, "connection")
        finally:
            conn.close()


def janitor(base, token, stats, stop, mine):
    c = Client(base, token, stats)
    last_purge = time.time()
    while not stop.wait(3):
        with mine[1]:
            ids, mine[0][:] = mine[0][:50], mine[0][50:]
        if ids:
            c.call("POST", "/v1/forget", {"ids": ids})
        if time.time() - last_purge >= 10:
            c.call("POST", "/v1/purge", {})
            last_purge = time.time()


def node_figures(pid):
    rss = fds = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return rss, fds


def percentile(values, q):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def svg(rows, path):
    """Resident memory and p99 latency per minute, as a small SVG plot."""
    w, h, pad = 720, 300, 50
    minutes = [r["minute"] for r in rows]
    def line(values, top, color):
        top = top or 1
        pts = " ".join(
            f"{pad + (m - 1) * (w - 2 * pad) / max(1, len(minutes) - 1):.1f},"
            f"{h - pad - v * (h - 2 * pad) / top:.1f}"
            for m, v in zip(minutes, values))
        return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>'
    rss = [r["rss_mb"] for r in rows]
    p99 = [r["p99_ms"] for r in rows]
    rss_top, p99_top = max(rss) * 1.25, max(p99) * 1.25
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
        f'<text x="{w / 2}" y="{h - 15}" text-anchor="middle">minute of the soak</text>',
        f'<text x="{pad}" y="{pad - 20}" fill="#1f77b4">resident memory, MB (top {rss_top:.0f})</text>',
        f'<text x="{w - pad}" y="{pad - 20}" fill="#d62728" text-anchor="end">p99 latency, ms (top {p99_top:.1f})</text>',
        line(rss, rss_top, "#1f77b4"),
        line(p99, p99_top, "#d62728"),
        "</svg>",
    ]
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the node's process id")
    ap.add_argument("--tokens", required=True, help="agent=token,... (the first also forgets)")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    agents = [kv.split("=", 1) for kv in args.tokens.split(",")]
    stats, stop = Stats(), threading.Event()
    mine = ([], threading.Lock())
    # The janitor forgets the first depositor's packets, with its token.
    threads = [threading.Thread(target=depositor,
                                args=(args.url, a, t, stats, stop,
                                      mine if i == 0 else ([], threading.Lock()), i), daemon=True)
               for i, (a, t) in enumerate(agents[:2])]
    threads += [threading.Thread(target=reader, args=(args.url, agents[-1][1], stats, stop, 10 + i),
                                 daemon=True) for i in range(2)]
    threads.append(threading.Thread(target=watcher, args=(args.url, agents[-1][1], stats, stop),
                                    daemon=True))
    threads.append(threading.Thread(target=janitor, args=(args.url, agents[0][1], stats, stop, mine),
                                    daemon=True))
    for t in threads:
        t.start()
    rows, started = [], time.time()
    total = int(args.minutes * 60)
    minute = 0
    while time.time() - started < total:
        time.sleep(min(60, total - (time.time() - started)))
        minute += 1
        n, lat, errors = stats.take()
        rss, fds = node_figures(args.pid)
        row = {
            "minute": minute,
            "rss_mb": round(rss or 0, 1),
            "fds": fds or 0,
            "requests": n,
            "p50_ms": round(percentile(lat, 0.5) * 1000, 2),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
            "errors": sum(errors.values()),
            "error_kinds": ";".join(f"{k}:{v}" for k, v in sorted(errors.items())),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    stop.set()
    if not rows:
        raise SystemExit("the soak ran less than a minute: nothing to report")
    with open(os.path.join(args.out, "soak.csv"), "w") as f:
        f.write(",".join(rows[0].keys()) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r.values()) + "\n")
    with open(os.path.join(args.out, "soak.md"), "w") as f:
        f.write("| minute | resident MB | open fds | requests | p50 ms | p99 ms | errors |\n")
        f.write("|---:|---:|---:|---:|---:|---:|---:|\n")
        for r in rows:
            kinds = f" ({r['error_kinds']})" if r["errors"] else ""
            f.write(f"| {r['minute']} | {r['rss_mb']} | {r['fds']} | {r['requests']:,} | "
                    f"{r['p50_ms']} | {r['p99_ms']} | {r['errors']}{kinds} |\n")
    svg(rows, os.path.join(args.out, "soak.svg"))
    errors = sum(r["errors"] for r in rows)
    print(f"{sum(r['requests'] for r in rows):,} requests, {errors} errors; "
          f"resident memory {rows[0]['rss_mb']} MB after minute 1, {rows[-1]['rss_mb']} MB at the end")
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
