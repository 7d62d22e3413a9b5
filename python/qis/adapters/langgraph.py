"""qis for LangGraph: the loop's tools for a prebuilt ReAct agent (or any LangChain agent).

    from langgraph.prebuilt import create_react_agent
    from qis.adapters.langgraph import qis_tools

    node = qis.Node("site_07", router="http://node:7878?token_env=QIS_TOKEN")
    agent = create_react_agent(model, qis_tools(node))

`qis_tools(node)` gives `deposit_outcome` and `consult` as LangChain `StructuredTool`s (sync, and
async over an `AsyncNode` when one is given as `async_node`).

**The store, and why there is no `BaseStore` here.** LangGraph's `BaseStore` is a key-value store:
`put(namespace, key, value)` overwrites, `get(namespace, key)` reads one item back by key,
`delete` removes it, `list_namespaces` browses. qis packets are immutable outcomes addressed by
their *problem*, not by a key chosen by the writer: a put maps to a deposit and a search to a
query, but an overwrite, a read by key and a delete do not map (forgetting comes with
`Router::forget`, and a listing of addresses with `Router::addresses`). A `BaseStore` that
silently dropped half its contract would mislead an agent, so the adapter is the two tools.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

import qis
from qis.adapters import _tools


def qis_tools(node: qis.Node, async_node: qis.AsyncNode | None = None) -> list[BaseTool]:
    """`deposit_outcome` and `consult` over `node` (and `async_node` for `ainvoke`)."""

    def deposit(**args: Any) -> str:
        return _tools.deposit(node, **args)

    def consult(**args: Any) -> str:
        return _tools.consult(node, **args)

    async def adeposit(**args: Any) -> str:
        if async_node is None:
            return await asyncio.to_thread(deposit, **args)
        a = _tools.DepositArgs(**args)
        try:
            r = await async_node.deposit(a.domain, a.context, outcome=a.outcome,
                                         confidence=a.confidence, result=a.result,
                                         summary=a.summary, tags=a.tags, problem=a.problem)
        except qis.QisError as e:
            return _tools.refusal(e)
        return f'{{"stored": {str(r.stored).lower()}, "id": "{r.id}", "address": "{r.address}"}}'

    async def aconsult(**args: Any) -> str:
        if async_node is None:
            return await asyncio.to_thread(consult, **args)
        a = _tools.ConsultArgs(**args)
        try:
            insight = await async_node.consult(a.domain, a.context, problem=a.problem,
                                               method=a.method)
        except qis.QisError as e:
            return _tools.refusal(e)
        return _tools.insight_text(insight)

    return [
        StructuredTool.from_function(
            func=deposit, coroutine=adeposit, name="deposit_outcome",
            description=_tools.DEPOSIT_DESCRIPTION, args_schema=_tools.DepositArgs),
        StructuredTool.from_function(
            func=consult, coroutine=aconsult, name="consult",
            description=_tools.CONSULT_DESCRIPTION, args_schema=_tools.ConsultArgs),
    ]
