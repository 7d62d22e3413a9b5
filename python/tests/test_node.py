"""The package over the library: the loop, typed answers, and refusals that name the argument."""

import json
import subprocess
import sys

import pytest

import qis

CONTEXT = {"condition": "T2D", "intervention_type": "GLP1"}


def node(agent="site_01", **kw):
    kw.setdefault("router", "memory:")
    kw.setdefault("embedder", "hashed")
    return qis.Node(agent, **kw)


def test_the_seed_address_is_the_clis():
    assert qis.address("clinical_trial", CONTEXT) == "1dd96c30c27fe860"
    assert node().address("clinical_trial", CONTEXT) == "1dd96c30c27fe860"


def test_deposit_consult_query_and_close_the_loop():
    n = node()
    r = n.deposit("clinical_trial", CONTEXT, outcome="resolved", confidence=0.9,
                  result={"protocol": "once_weekly", "hba1c_reduction": 1.19},
                  summary="weekly dosing held HbA1c down", tags=["t2d"], ttl="30d")
    assert isinstance(r, qis.Receipt) and r.stored and r.address == "1dd96c30c27fe860"
    assert r.to_dict() == {"id": r.id, "address": r.address, "stored": True}

    insight = n.consult("clinical_trial", CONTEXT)
    assert isinstance(insight, qis.Insight) and insight
    assert insight.method == "weighted" and insight.agents == 1 and insight.used == [r.id]
    assert insight.best == {"protocol": "once_weekly", "hba1c_reduction": 1.19}
    assert insight.to_dict()["fields"]["protocol"]["winner"] == "once_weekly"

    hits = n.query("clinical_trial", CONTEXT, tags_any=["t2d"], min_confidence=0.5)
    assert [type(h) for h in hits] == [qis.Hit]
    p = hits[0].packet
    assert (p.id, p.agent, p.domain, p.outcome, p.tags, p.ttl) == (
        r.id, "site_01", "clinical_trial", "resolved", ["t2d"], 30 * 86400)
    assert p.confidence == 0.9 and p.to_dict()["confidence"] == 0.9  # not 0.8999999761581421
    assert p.result["protocol"] == "once_weekly" and p.derived_from == [] and not p.signed
    assert p.to_dict()["address"] == "1dd96c30c27fe860"
    assert "T2D" not in json.dumps(p.to_dict()), "the context never reaches the router"

    done = n.close_loop("clinical_trial", CONTEXT)
    assert done is not None
    derived, receipt = done
    assert derived.used == [r.id] and receipt.stored
    stats = n.stats()
    assert (stats.packets, stats.addresses, stats.router) == (2, 1, "memory")
    assert n.query("clinical_trial", CONTEXT, outcomes=["contradicted"]) == []


def test_a_problem_text_is_found_by_meaning():
    n = node()
    n.deposit("db_ops", problem="connection pool exhausted under peak load",
              outcome="partial", confidence=0.6, result={"fix": "pgbouncer"})
    hits = n.query(problem="the pool of connections runs dry at peak", limit=3)
    assert len(hits) == 1 and hits[0].packet.problem == "connection pool exhausted under peak load"
    assert 0 < hits[0].score <= 1
    assert n.consult(problem="connection pool exhausted", domain="db_ops").best == {"fix": "pgbouncer"}


def test_two_agents_share_one_store(tmp_path):
    store = f"file:{tmp_path / 'store'}"
    a = qis.Node("site_a", router=store, embedder="hashed")
    a.deposit("d", {"k": 1}, outcome="resolved", confidence=0.8, result={"x": 1})
    a.close()
    with qis.Node("site_b", router=store, embedder="hashed") as b:
        assert b.consult("d", {"k": 1}).agents == 1
        assert b.consult("d", {"k": 1}, exclude_self=True).agents == 1
    assert b.closed


def test_one_agent_cannot_fill_a_consultation(tmp_path):
    store = f"file:{tmp_path / 'store'}"
    item = {"domain": "d", "context": {"k": 1}, "outcome": "resolved", "confidence": 0.8}
    for site in ["site_a", "site_b", "site_c"]:
        with qis.Node(site, router=store, embedder="hashed") as n:
            n.deposit(**item, result={"x": "good"})
    with qis.Node("flooder", router=store, embedder="hashed") as f:
        f.deposit_many([{**item, "result": {"x": "bad"}}] * 60)
    with qis.Node("newcomer", router=store, embedder="hashed") as n:
        heard = n.consult("d", {"k": 1})
        assert (heard.agents, heard.sample_size, heard.best) == (4, 6, {"x": "good"})
        flooded = n.consult("d", {"k": 1}, max_per_agent=50)
        assert (flooded.agents, flooded.best) == (1, {"x": "bad"})
        hits = n.query("d", {"k": 1}, max_per_agent=2)
        assert sorted(h.packet.agent for h in hits) == [
            "flooder", "flooder", "site_a", "site_b", "site_c"]
        assert len(n.query("d", {"k": 1})) == 50, "a plain query is not capped"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"outcome": "great"}, "outcome"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": float("nan")}, "confidence"),
        ({"confidence": "high"}, "confidence"),
        ({"context": [1, 2]}, "context"),
        ({"context": {1: "a"}}, "context"),
        ({"context": {"k": float("inf")}}, "context.k"),
        ({"context": {"k": 2**80}}, "context.k"),
        ({"context": {"k": object()}}, "context.k"),
        ({"result": {"dose": {"mg": 5}}}, "result.dose"),
        ({"result": {f"k{i}": i for i in range(17)}}, "result"),
        ({"tags": ["t"] * 9}, "tags"),
        ({"summary": "x" * 201}, "summary"),
        ({"ttl": "forever"}, "ttl"),
        ({"ttl": -5}, "ttl"),
        ({"domain": ""}, "domain"),
    ],
)
def test_bad_input_raises_naming_the_argument_and_stores_nothing(change, field):
    n = node()
    args = {"domain": "d", "context": {"k": 1}, "outcome": "resolved", "confidence": 0.5}
    args.update(change)
    domain = args.pop("domain")
    context = args.pop("context")
    with pytest.raises(qis.InvalidPacket) as e:
        n.deposit(domain, context, **args)
    assert e.value.code == "invalid_field" and e.value.field == field, (e.value, e.value.field)
    assert field in str(e.value)
    assert n.stats().packets == 0


def test_selection_errors_name_the_argument():
    n = node()
    for kwargs, field in [
        ({"domain": "d"}, "context"),
        ({"context": {"k": 1}}, "domain"),
        ({"address": "zz"}, "address"),
        ({"problem": "x", "method": "vote"}, "method"),
        ({"problem": "x", "per_agent": "each"}, "per_agent"),
        ({"problem": "x", "outcomes": ["done"]}, "outcomes[0]"),
        ({"problem": "x", "limit": 0}, "limit"),
        ({"problem": "x", "max_per_agent": 0}, "max_per_agent"),
    ]:
        with pytest.raises(qis.InvalidPacket) as e:
            n.consult(**kwargs)
        assert e.value.field == field, (kwargs, e.value)
    with pytest.raises(TypeError):
        n.deposit("d", {"k": 1}, outcome="resolved")  # confidence is required
    with pytest.raises(qis.NotSupported) as e:
        n.consult("d", {"k": 1}, verified_only=True)
    assert "agent_keys" in str(e.value)


def test_a_closed_node_refuses_every_call():
    n = node()
    n.close()
    for call in (lambda: n.stats(), lambda: n.consult("d", {"k": 1}),
                 lambda: n.deposit("d", {"k": 1}, outcome="open", confidence=0.1)):
        with pytest.raises(qis.NodeClosed):
            call()
    assert n.closed and "closed" in repr(n)


def test_a_bad_router_or_agent_is_refused_at_open():
    with pytest.raises(qis.InvalidPacket) as e:
        qis.Node("", router="memory:")
    assert e.value.field == "agent"
    with pytest.raises(qis.QisError) as e:
        qis.Node("a", router="redis://x")
    assert "router" in str(e.value)


def test_no_input_crashes_the_interpreter():
    # A run of hostile inputs in a fresh interpreter: each must raise an exception, and the
    # process must end normally (no Rust panic crossing the boundary, no abort).
    code = r"""
import qis
n = qis.Node("a", router="memory:", embedder="hashed")
bad = [
    lambda: n.deposit("d", {"k": [[[]]] * 10**4}, outcome="open", confidence=0.5),
    lambda: n.deposit("d" * 10**6, {"k": 1}, outcome="open", confidence=0.5),
    lambda: n.deposit("d", None, outcome="open", confidence=0.5),
    lambda: n.deposit("d", problem="\x00" * 10, outcome="open", confidence=0.5),
    lambda: n.deposit("d", {"k": 1}, outcome="open", confidence=1e309),
    lambda: n.query(problem="x" * 10**6, limit=10**12),
    lambda: n.query(address="0" * 10**5),
    lambda: n.consult(problem="", domain="d"),
    lambda: n.query("d", {"k": 1}, within=1e300),
]
raised = 0
for f in bad:
    try:
        f()
    except (qis.QisError, TypeError, OverflowError, ValueError):
        raised += 1
print(raised, n.stats().packets)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    raised, packets = map(int, out.stdout.split())
    # A deep context value routes by its key alone (the `keys` scheme), so that one is stored;
    # every other input is refused.
    assert (raised, packets) == (8, 1), out.stdout


def test_deposit_many_stores_a_batch_or_nothing(tmp_path):
    n = qis.Node("site_01", router=f"file:{tmp_path}", embedder="hashed")
    items = [{"domain": "d", "context": {"k": i % 3}, "outcome": "resolved", "confidence": 0.5,
              "result": {"i": i}} for i in range(100)]
    items.append({"domain": "d", "problem": "disk fills overnight", "outcome": "partial",
                  "confidence": 0.4})
    bad = items + [{"domain": "d", "context": {"k": 1}, "outcome": "resolved", "confidence": 2}]
    with pytest.raises(qis.InvalidPacket) as e:
        n.deposit_many(bad)
    assert e.value.field == "items[101].confidence", e.value
    with pytest.raises(qis.InvalidPacket) as e:
        n.deposit_many([{"domain": "d", "context": {"k": 1}, "outcome": "open", "confidence": 0.5,
                         "agent": "someone_else"}])
    assert e.value.field == "items[0].agent"
    assert n.stats().packets == 0
    receipts = n.deposit_many(items)
    assert len(receipts) == 101 and all(r.stored for r in receipts)
    assert receipts[-1].address != receipts[0].address
    assert n.stats().packets == 101 and n.stats().vectors == 1
    assert n.query(problem="the disk is full every night", limit=1)[0].packet.id == receipts[-1].id


def test_forget_takes_back_only_this_agents_packets(tmp_path):
    store = f"file:{tmp_path}"
    with qis.Node("site_b", router=store, embedder="hashed") as b:
        theirs = b.deposit("d", {"k": 1}, outcome="resolved", confidence=0.5)
    n = qis.Node("site_a", router=store, embedder="hashed")
    # The `keys` scheme routes by the context's keys: {"k": …} and {"j": …} are two addresses.
    mine = [n.deposit("d", {"k" if i % 2 else "j": i}, outcome="resolved", confidence=0.5)
            for i in range(4)]
    assert n.forget([mine[0].id]) == 1
    assert n.forget([mine[0].id]) == 0  # idempotent
    assert n.forget([theirs.id]) == 0  # another agent's packet is not ours to forget
    assert n.forget(address=mine[1].address) == 2  # the two of ours at {"k": …}, not b's
    assert [h.packet.agent for h in n.query("d", {"k": 1})] == ["site_b"]
    assert n.forget(everything=True) == 1
    assert n.stats().packets == 1
    for kwargs, field in [({}, "everything"), ({"ids": ["x"]}, "ids[0]"),
                          ({"address": "zz"}, "address"),
                          ({"ids": [mine[0].id], "everything": True}, "everything")]:
        with pytest.raises(qis.InvalidPacket) as e:
            n.forget(**kwargs)
        assert e.value.field == field, (kwargs, e.value)
