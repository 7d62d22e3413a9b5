"""qis for CrewAI: the loop's two tools for a crew's agents.

    from crewai import Agent
    from qis.adapters.crewai import ConsultTool, DepositOutcomeTool

    node = qis.Node("site_07", router="http://node:7878?token_env=QIS_TOKEN")
    analyst = Agent(role="…", goal="…", backstory="…",
                    tools=[ConsultTool(node=node), DepositOutcomeTool(node=node)])
"""

from __future__ import annotations

from typing import Any

from crewai.tools import BaseTool
from pydantic import ConfigDict

import qis
from qis.adapters import _tools


class DepositOutcomeTool(BaseTool):
    """`deposit_outcome`: share what happened, as the node's agent."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str = "deposit_outcome"
    description: str = _tools.DEPOSIT_DESCRIPTION
    args_schema: type = _tools.DepositArgs
    node: qis.Node

    def _run(self, **args: Any) -> str:
        return _tools.deposit(self.node, **args)


class ConsultTool(BaseTool):
    """`consult`: what worked for the peers that met this problem."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str = "consult"
    description: str = _tools.CONSULT_DESCRIPTION
    args_schema: type = _tools.ConsultArgs
    node: qis.Node

    def _run(self, **args: Any) -> str:
        return _tools.consult(self.node, **args)
