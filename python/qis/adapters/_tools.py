"""What the framework adapters share: the two tools of the loop (deposit an outcome, consult the
peers), their argument schemas (pydantic), and their answers as the text a model reads.

A refusal is returned to the model as text naming the field and the rule, as the MCP tools do,
so that the agent can correct its call; nothing is stored on a refusal.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import qis

DEPOSIT_DESCRIPTION = (
    "Share what happened when you acted on a problem, so that peers facing the same problem "
    "learn from it. Call it after you tried something and know how it went. Name the problem "
    "by `domain` with a `context` object (turned into an address, never stored) or a `problem` "
    "sentence (shared, found by meaning). Never put raw data or personal details in `result`."
)
CONSULT_DESCRIPTION = (
    "Before you act on a problem, ask what worked for the other agents that met it: returns the "
    "best supported result, how confident, and from how many independent agents. Name the "
    "problem by `domain` with `context`, or by a `problem` sentence."
)


class DepositArgs(BaseModel):
    """Arguments of `deposit_outcome`."""

    model_config = ConfigDict(extra="forbid")
    domain: str = Field(description='The kind of problem, a short shared name such as "db_ops".')
    context: dict[str, Any] | None = Field(
        default=None, description="The problem's routing facts as named fields; never stored.")
    problem: str | None = Field(
        default=None, description="The problem in a sentence; shared with peers.")
    outcome: Literal["resolved", "partial", "contradicted", "open"] = Field(
        description="What happened.")
    confidence: float = Field(description="How sure you are, 0 to 1.")
    result: dict[str, float | int | str | bool] | None = Field(
        default=None, description="What you did or found, up to 16 named values.")
    summary: str | None = Field(default=None, description="One line on what changed (≤ 200 chars).")
    tags: list[str] | None = Field(default=None, description="Up to 8 tags.")


class ConsultArgs(BaseModel):
    """Arguments of `consult`."""

    model_config = ConfigDict(extra="forbid")
    domain: str | None = Field(default=None, description="The kind of problem.")
    context: dict[str, Any] | None = Field(
        default=None, description="The problem's routing facts (with `domain`).")
    problem: str | None = Field(default=None, description="The problem in a sentence.")
    method: Literal["weighted", "bayesian", "frequency"] = Field(
        default="weighted", description="How the packets are combined.")


def refusal(e: qis.QisError) -> str:
    field = f", field `{e.field}`" if getattr(e, "field", None) else ""
    return f"refused: {e} ({getattr(e, 'code', 'error')}{field}); nothing was stored"


def deposit(node: qis.Node, **args: Any) -> str:
    a = DepositArgs(**args)
    try:
        r = node.deposit(a.domain, a.context, outcome=a.outcome, confidence=a.confidence,
                         result=a.result, summary=a.summary, tags=a.tags, problem=a.problem)
    except qis.QisError as e:
        return refusal(e)
    return json.dumps({"stored": r.stored, "id": r.id, "address": r.address, "agent": node.agent})


def insight_text(insight: qis.Insight) -> str:
    return json.dumps({
        "best": insight.best,
        "confidence": round(insight.confidence, 3),
        "agents": insight.agents,
        "sample_size": insight.sample_size,
        "outcome": insight.outcome,
        "method": insight.method,
    })


def consult(node: qis.Node, **args: Any) -> str:
    a = ConsultArgs(**args)
    try:
        insight = node.consult(a.domain, a.context, problem=a.problem, method=a.method)
    except qis.QisError as e:
        return refusal(e)
    if not insight:
        return json.dumps({"best": None, "agents": 0,
                           "note": "no peer has deposited an outcome for this problem yet"})
    return insight_text(insight)
