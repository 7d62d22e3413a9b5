"""The framework adapters against the real frameworks from PyPI, with no LLM: each framework's
own fake model, or the tool called the way the framework calls it."""

import asyncio
import json

import pytest

import qis

CONTEXT = {"engine": "postgres", "symptom": "pool_exhausted"}


def test_autogen_memory_adds_queries_and_updates_a_model_context(tmp_path):
    from autogen_core.memory import MemoryContent, MemoryMimeType
    from autogen_core.model_context import BufferedChatCompletionContext
    from autogen_core.models import SystemMessage, UserMessage

    from qis.adapters.autogen import QisMemory

    async def main():
        store = f"file:{tmp_path}"
        a = QisMemory(qis.AsyncNode("site_a", router=store, embedder="hashed"), domain="db_ops")
        await a.add(MemoryContent(
            content={"problem": "connection pool exhausted under peak load", "outcome": "resolved",
                     "confidence": 0.9, "result": {"fix": "pgbouncer"}},
            mime_type=MemoryMimeType.JSON))
        await a.add(MemoryContent(content="nightly vacuum blocks writes", mime_type="text/plain",
                                  metadata={"outcome": "partial", "confidence": 0.4,
                                            "result": {"fix": "vacuum_at_noon"}}))
        with pytest.raises(qis.InvalidPacket):
            await a.add(MemoryContent(content={"problem": "x", "confidence": 3},
                                      mime_type=MemoryMimeType.JSON))
        await a.close()

        b = QisMemory(qis.AsyncNode("site_b", router=store, embedder="hashed"), domain="db_ops",
                      limit=1)
        found = await b.query("the pool of connections runs dry at peak")
        assert len(found.results) == 1
        assert found.results[0].content["result"] == {"fix": "pgbouncer"}
        assert found.results[0].metadata["agent"] == "site_a"

        ctx = BufferedChatCompletionContext(buffer_size=10)
        await ctx.add_message(UserMessage(content="our connection pool is exhausted at peak",
                                          source="user"))
        updated = await b.update_context(ctx)
        assert len(updated.memories.results) == 1
        messages = await ctx.get_messages()
        assert isinstance(messages[-1], SystemMessage) and "pgbouncer" in messages[-1].content
        # clear() forgets this agent's own packets only.
        await b.add(MemoryContent(content="b's own note", mime_type="text/plain"))
        await b.clear()
        found = await b.query("connection pool exhausted")
        assert [r.metadata["agent"] for r in found.results] == ["site_a"]
        await b.close()

    asyncio.run(main())


@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
def test_langgraph_react_agent_deposits_and_consults_through_the_tools():
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage
    from langgraph.prebuilt import create_react_agent

    from qis.adapters.langgraph import qis_tools

    class ToolCallingFake(FakeMessagesListChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    node = qis.Node("site_lg", router="memory:", embedder="hashed")
    deposit_args = {"domain": "db_ops", "context": CONTEXT, "outcome": "resolved",
                    "confidence": 0.8, "result": {"fix": "raise_pool_size"}}
    model = ToolCallingFake(responses=[
        AIMessage(content="", tool_calls=[{"name": "deposit_outcome", "args": deposit_args, "id": "1"}]),
        AIMessage(content="", tool_calls=[{"name": "consult", "args": {"domain": "db_ops", "context": CONTEXT}, "id": "2"}]),
        AIMessage(content="", tool_calls=[{"name": "deposit_outcome", "args": {**deposit_args, "confidence": 9}, "id": "3"}]),
        AIMessage(content="done"),
    ])
    agent = create_react_agent(model, qis_tools(node))
    out = agent.invoke({"messages": [("user", "fix the pool")]})
    tool_messages = [m for m in out["messages"] if m.type == "tool"]
    assert [m.name for m in tool_messages] == ["deposit_outcome", "consult", "deposit_outcome"]
    assert json.loads(tool_messages[0].content)["stored"] is True
    insight = json.loads(tool_messages[1].content)
    assert insight["best"] == {"fix": "raise_pool_size"} and insight["agents"] == 1
    assert "confidence" in tool_messages[2].content and "refused" in tool_messages[2].content
    assert node.stats().packets == 1


def test_langgraph_tools_are_async_over_an_async_node(tmp_path):
    from qis.adapters.langgraph import qis_tools

    async def main():
        store = f"file:{tmp_path}"
        anode = qis.AsyncNode("site_lg", router=store, embedder="hashed")
        deposit, consult = qis_tools(qis.Node("unused", router="memory:", embedder="hashed"), anode)
        r = json.loads(await deposit.ainvoke({"domain": "d", "problem": "disk full at night",
                                              "outcome": "resolved", "confidence": 0.7,
                                              "result": {"fix": "rotate_logs"}}))
        assert r["stored"]
        answer = json.loads(await consult.ainvoke({"domain": "d", "problem": "the disk fills up overnight"}))
        assert answer["best"] == {"fix": "rotate_logs"}

    asyncio.run(main())


def test_crewai_tools_run_as_a_crew_agent_runs_them():
    from qis.adapters.crewai import ConsultTool, DepositOutcomeTool

    node = qis.Node("site_crew", router="memory:", embedder="hashed")
    deposit = DepositOutcomeTool(node=node).to_structured_tool()
    consult = ConsultTool(node=node).to_structured_tool()
    # A crew's agent hands the tool the model's arguments as JSON text.
    r = json.loads(deposit.invoke(json.dumps({"domain": "db_ops", "context": CONTEXT,
                                              "outcome": "resolved", "confidence": 0.8,
                                              "result": {"fix": "raise_pool_size"}})))
    assert r["stored"] and r["agent"] == "site_crew"
    answer = json.loads(consult.invoke({"domain": "db_ops", "context": CONTEXT}))
    assert answer["best"] == {"fix": "raise_pool_size"}
    # The schema refuses a wrong type before qis sees it (the agent is told, and tries again) ...
    with pytest.raises(ValueError, match="result.fix"):
        deposit.invoke({"domain": "db_ops", "context": CONTEXT, "outcome": "resolved",
                        "confidence": 0.8, "result": {"fix": {"nested": 1}}})
    # ... and qis refuses what only its rules catch, naming the field.
    refused = deposit.invoke({"domain": "db_ops", "context": CONTEXT, "outcome": "resolved",
                              "confidence": 3.0})
    assert refused.startswith("refused:") and "`confidence`" in refused, refused
    assert node.stats().packets == 1
