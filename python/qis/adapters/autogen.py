"""qis for AutoGen: an `autogen_core.memory.Memory` over a qis node.

    from autogen_agentchat.agents import AssistantAgent
    from qis.adapters.autogen import QisMemory

    memory = QisMemory(qis.AsyncNode("site_07", router="http://node:7878?token_env=QIS_TOKEN"),
                       domain="db_ops")
    agent = AssistantAgent("ops", model_client=…, memory=[memory])

- `add(content)`: deposits an outcome. A JSON content is the outcome itself (`outcome`,
  `confidence`, `result`, and `context` or `problem`; `domain` defaults to the memory's); a text
  content is shared as the problem, with `outcome`, `confidence` and `result` from its metadata
  (default: `resolved`, 0.5, no result).
- `query(text)`: the packets nearest the text in meaning (in the memory's domain), each as a JSON
  `MemoryContent` with its `score` in the metadata.
- `update_context(model_context)`: consults the peers about the last message and adds what they
  found as one system message; returns the packets it rests on.
- `clear()`: forgets every packet this agent deposited (others' packets are the network's and
  stay); on a router that cannot forget it raises `qis.NotSupported` and removes nothing.
- `close()`: closes the node.
"""

from __future__ import annotations

import json
from typing import Any

from autogen_core import CancellationToken
from autogen_core.memory import (
    Memory,
    MemoryContent,
    MemoryMimeType,
    MemoryQueryResult,
    UpdateContextResult,
)
from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import SystemMessage

import qis


def _content(hit: qis.Hit) -> MemoryContent:
    return MemoryContent(content=hit.packet.to_dict(), mime_type=MemoryMimeType.JSON,
                         metadata={"score": hit.score, "agent": hit.packet.agent,
                                   "id": hit.packet.id})


class QisMemory(Memory):
    """Peers' outcomes as an AutoGen memory, over an `AsyncNode`."""

    def __init__(self, node: qis.AsyncNode, domain: str, *, limit: int = 10,
                 name: str | None = None) -> None:
        self._node = node
        self._domain = domain
        self._limit = limit
        self._name = name or f"qis:{domain}"

    @property
    def name(self) -> str:
        return self._name

    async def add(self, content: MemoryContent,
                  cancellation_token: CancellationToken | None = None) -> None:
        meta = dict(content.metadata or {})
        mime = content.mime_type.value if isinstance(content.mime_type, MemoryMimeType) else content.mime_type
        if mime == MemoryMimeType.JSON.value:
            o = content.content if isinstance(content.content, dict) else json.loads(str(content.content))
            o = {**meta, **o}
        elif mime in (MemoryMimeType.TEXT.value, MemoryMimeType.MARKDOWN.value):
            o = {**meta, "problem": str(content.content)}
        else:
            raise qis.NotSupported(f"a qis memory takes text or JSON outcomes, not {mime}")
        await self._node.deposit(
            o.get("domain", self._domain), o.get("context"), problem=o.get("problem"),
            outcome=o.get("outcome", "resolved"), confidence=o.get("confidence", 0.5),
            result=o.get("result"), summary=o.get("summary"), tags=o.get("tags"), ttl=o.get("ttl"))

    async def query(self, query: str | MemoryContent = "",
                    cancellation_token: CancellationToken | None = None,
                    **kwargs: Any) -> MemoryQueryResult:
        text = query.content if isinstance(query, MemoryContent) else query
        if not str(text).strip():
            return MemoryQueryResult(results=[])
        hits = await self._node.query(problem=str(text), domain=self._domain,
                                      limit=kwargs.get("limit", self._limit))
        return MemoryQueryResult(results=[_content(h) for h in hits])

    async def update_context(self, model_context: ChatCompletionContext) -> UpdateContextResult:
        messages = await model_context.get_messages()
        if not messages:
            return UpdateContextResult(memories=MemoryQueryResult(results=[]))
        last = messages[-1].content
        text = last if isinstance(last, str) else str(last)
        hits = await self._node.query(problem=text, domain=self._domain, limit=self._limit)
        if not hits:
            return UpdateContextResult(memories=MemoryQueryResult(results=[]))
        insight = await self._node.consult(problem=text, domain=self._domain, limit=self._limit)
        lines = [f"- {h.packet.outcome} ({h.packet.confidence:.2f}) by {h.packet.agent}: "
                 f"{json.dumps(h.packet.result)} {h.packet.summary}".rstrip() for h in hits]
        await model_context.add_message(SystemMessage(content=(
            f"What peer agents found on similar problems ({insight.agents} agents; best supported: "
            f"{json.dumps(insight.best)}, confidence {insight.confidence:.2f}):\n" + "\n".join(lines))))
        return UpdateContextResult(memories=MemoryQueryResult(results=[_content(h) for h in hits]))

    async def clear(self) -> None:
        await self._node.forget(everything=True)

    async def close(self) -> None:
        self._node.close()
