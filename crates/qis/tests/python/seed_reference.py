"""The seed's reference behaviour, restated in CPython for parity tests.

Reads one JSON request per line on stdin and writes one JSON answer per line on stdout:
- {"op": "fingerprint", "domain": str, "keys": [str]} -> {"address": str}
  The seed's address: SHA-256 over json.dumps({"domain": d, "context_keys": sorted(keys)},
  sort_keys=True), hex digest cut to 16 characters.
- {"op": "frequency", "results": [dict]} -> {"insight": ..., "sample_size": n, "consensus_rate": r}
  The seed's synthesis: count each whole result by its sort_keys JSON text, keep the most frequent
  (the first one seen on ties), report its share of all packets.
"""
import hashlib
import json
import sys
from collections import defaultdict


def fingerprint(domain, keys):
    text = json.dumps({"domain": domain, "context_keys": sorted(keys)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def frequency(results):
    if not results:
        return {"insight": "no peers yet", "sample_size": 0}
    tally = defaultdict(int)
    for result in results:
        tally[json.dumps(result, sort_keys=True)] += 1
    winner = max(tally, key=tally.__getitem__)
    return {
        "insight": json.loads(winner),
        "sample_size": len(results),
        "consensus_rate": tally[winner] / len(results),
    }


def main():
    # Split on "\n" only: str.splitlines() would also split inside strings at U+2028 and kin.
    for line in sys.stdin.buffer.read().decode("utf-8").split("\n"):
        if not line:
            continue
        request = json.loads(line)
        if request["op"] == "fingerprint":
            answer = {"address": fingerprint(request["domain"], request["keys"])}
        elif request["op"] == "frequency":
            answer = frequency(request["results"])
        else:
            raise SystemExit(f"unknown op {request['op']!r}")
        sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
