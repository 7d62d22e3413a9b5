"""Python and the `qis` CLI on one embedded store: each reads what the other deposited."""

import json
import subprocess

import qis

CONTEXT = {"condition": "T2D", "intervention_type": "GLP1"}


def run(qis_bin, *args):
    out = subprocess.run([qis_bin, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_python_and_the_cli_read_each_others_packets(tmp_path, qis_bin):
    data = str(tmp_path / "store")
    with qis.Node("site_py", data=data, embedder="hashed") as n:
        r = n.deposit("clinical_trial", CONTEXT, outcome="resolved", confidence=0.9,
                      result={"protocol": "once_weekly"})
    assert r.address == "1dd96c30c27fe860"

    lines = run(qis_bin, "--data", data, "query", "--domain", "clinical_trial",
                "--context", json.dumps(CONTEXT), "--json").splitlines()
    hits = [json.loads(line) for line in lines]  # JSON Lines, one hit each
    assert [h["packet"]["id"] for h in hits] == [r.id]
    assert hits[0]["packet"]["agent"] == "site_py"

    receipt = json.loads(run(qis_bin, "--data", data, "deposit", "--agent", "site_cli",
                             "--domain", "clinical_trial", "--context", json.dumps(CONTEXT),
                             "--outcome", "partial", "--confidence", "0.6",
                             "--result", "protocol=daily", "--json", "--embedder", "hashed"))

    with qis.Node("site_py", data=data, embedder="hashed") as n:
        packets = {h.packet.id: h.packet.agent for h in n.query("clinical_trial", CONTEXT)}
        assert packets == {r.id: "site_py", receipt["id"]: "site_cli"}
        assert n.consult("clinical_trial", CONTEXT).agents == 2
