"""The examples run, and the seed's loop in Python meets at the CLI's address."""

import json
import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def test_the_seed_loop_routes_to_the_clis_address(tmp_path, qis_bin):
    data = tmp_path / "store"
    out = subprocess.run([sys.executable, EXAMPLES / "seed_loop.py", "--data", data, "--seed", "7"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for expected in ["every packet routed to address 1dd96c30c27fe860",
                     "retrieved 20 peer outcomes from 20 agents",
                     "nothing counts twice"]:
        assert expected in out.stdout, out.stdout
    # The CLI reads the same store: 20 packets and the derived one.
    stats = subprocess.run([qis_bin, "--data", data, "stats", "--json"], capture_output=True,
                           text=True, timeout=60)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total_packets"] == 21, stats.stdout
