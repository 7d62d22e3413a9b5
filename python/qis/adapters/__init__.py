"""Framework adapters, each an optional extra of `qis-routing`:

- `qis.adapters.autogen` — `QisMemory`, an `autogen_core.memory.Memory` (extra `autogen`);
- `qis.adapters.langgraph` — `qis_tools(node)`, LangChain tools for LangGraph agents (extra
  `langgraph`);
- `qis.adapters.crewai` — `DepositOutcomeTool` and `ConsultTool` (extra `crewai`).

Each adapter imports its framework only when imported itself.
"""
