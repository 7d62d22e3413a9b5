"""qis: agents learn from each other's outcomes without sharing raw data.

An agent distils what happened into a small outcome packet (what worked, for what kind of
problem, how confident; never raw data) and deposits it at the address of its problem; peers
facing the same problem consult that address and synthesize locally.

    import qis

    node = qis.Node("site_07", router="file:./qis-data")
    context = {"condition": "T2D", "intervention_type": "GLP1"}
    node.deposit("clinical_trial", context, outcome="resolved", confidence=0.9,
                 result={"protocol": "once_weekly"})
    insight = node.consult("clinical_trial", context)
    print(insight.best, insight.agents)

Everything here is the Rust library (`qis` crate) through its façade: fingerprints, packets,
routers and synthesis are the same code as the `qis` CLI and the node server. `qis.AsyncNode`
is the asyncio form. Framework adapters live in `qis.adapters` (AutoGen, LangGraph, CrewAI).
"""

from qis._qis import (
    AsyncNode,
    Conflict,
    Forgotten,
    Hit,
    Insight,
    InvalidPacket,
    Node,
    NodeClosed,
    NotSupported,
    Packet,
    QisError,
    Receipt,
    SignatureError,
    Stats,
    StorageFull,
    Unavailable,
    __version__,
    address,
)

__all__ = [
    "AsyncNode",
    "Conflict",
    "Forgotten",
    "Hit",
    "Insight",
    "InvalidPacket",
    "Node",
    "NodeClosed",
    "NotSupported",
    "Packet",
    "QisError",
    "Receipt",
    "SignatureError",
    "Stats",
    "StorageFull",
    "Unavailable",
    "__version__",
    "address",
]
