"""The Python `mcp` package (PyPI, 2.x) as a real client of qis's MCP server.

    python clients.py QIS_BINARY

Runs `qis mcp` over stdio (the host's way: a child process) on an embedded store, and
`qis serve`'s `/mcp` over streamable HTTP with two agents' tokens. Every check raises on failure;
the script prints one line per check and exits non-zero when one fails.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import anyio
import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

QIS = sys.argv[1]
CONTEXT = {"engine": "postgres", "symptom": "pool_exhausted"}
TOKEN_A = "token-of-site-a-0123456789abcdef"
TOKEN_LAB = "mcp-test-token-of-site-a-in-lab"
TOKEN_B = "token-of-site-b-0123456789abcdef"


def check(name, condition, detail=""):
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    print(f"ok: {name}", flush=True)


def body(result):
    """A tool result's structured content, after checking it succeeded."""
    assert not result.is_error, result.content
    return result.structured_content


def refusal(result):
    assert result.is_error, f"expected a refusal, got {result.structured_content}"
    return result.structured_content


async def stdio_session(data, *extra):
    params = StdioServerParameters(
        command=QIS,
        args=["--data", data, "mcp", "--embedder", "hashed", *extra],
        env={**os.environ, "QIS_LOG": "warn"},
    )
    return stdio_client(params)


async def over_stdio():
    data = tempfile.mkdtemp(prefix="qis-mcp-stdio-")
    async with await stdio_session(data, "--agent", "site_07") as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            check("stdio: the server says who it is", init.server_info.name == "qis", init.server_info)
            tools = {t.name: t for t in (await s.list_tools()).tools}
            check(
                "stdio: six tools, each with a schema",
                set(tools) == {"deposit_outcome", "consult", "query_outcomes", "close_loop", "forget", "stats"}
                and all(t.input_schema["type"] == "object" for t in tools.values()),
                sorted(tools),
            )
            props = tools["deposit_outcome"].input_schema["properties"]
            check(
                "stdio: deposit_outcome's schema says what each argument is for",
                all(props[k].get("description") for k in ("domain", "context", "problem", "outcome", "confidence")),
                props,
            )
            before = body(await s.call_tool("stats", {}))["packets"]
            bad = refusal(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "context": CONTEXT, "outcome": "resolved", "confidence": 1.7},
            ))
            check(
                "stdio: a bad confidence is a tool error naming the field",
                bad["code"] == "invalid_field" and bad["field"] == "confidence" and "0" in bad["message"],
                bad,
            )
            typo = refusal(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "contex": CONTEXT, "outcome": "resolved", "confidence": 0.7},
            ))
            check("stdio: an unknown argument is named", typo["field"] == "contex", typo)
            check(
                "stdio: nothing is stored on a refusal",
                body(await s.call_tool("stats", {}))["packets"] == before,
            )
            try:
                await s.call_tool("no_such_tool", {})
                check("stdio: an unknown tool is a protocol error", False)
            except MCPError as e:
                check("stdio: an unknown tool is a protocol error", "no tool named" in str(e), e)

            receipt = body(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "context": CONTEXT, "outcome": "resolved", "confidence": 0.8,
                 "result": {"fix": "raise_pool_size", "pool_size": 50}, "summary": "doubling the pool stopped timeouts"},
            ))
            check("stdio: a deposit is stored as the session's agent",
                  receipt["stored"] and receipt["agent"] == "site_07", receipt)
            body(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "problem": "connection pool exhausted under peak load",
                 "outcome": "partial", "confidence": 0.6, "result": {"fix": "pgbouncer"}},
            ))
            near = body(await s.call_tool(
                "query_outcomes", {"problem": "the pool of connections runs dry at peak", "limit": 3}))
            check("stdio: a problem text finds the packet by meaning",
                  near["count"] == 1 and near["hits"][0]["packet"]["result"]["fix"] == "pgbouncer", near)
            page = await s.read_resource(f"qis://address/{receipt['address']}")
            packets = json.loads(page.contents[0].text)
            check("stdio: the address resource lists its packets",
                  [h["packet"]["id"] for h in packets] == [receipt["id"]], packets)
            one = await s.read_resource(f"qis://address/{receipt['address']}/packet/{receipt['id']}")
            check("stdio: the packet resource is the packet",
                  json.loads(one.contents[0].text)["id"] == receipt["id"])
            prompt = await s.get_prompt("consult_peers", {"task": "the db times out", "domain": "db_ops"})
            check("stdio: the prompt asks to consult first",
                  "consult" in prompt.messages[0].content.text)

    # A second process on the same store, as another agent: the first one's outcome is there.
    async with await stdio_session(data, "--agent", "site_08") as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            insight = body(await s.call_tool("consult", {"domain": "db_ops", "context": CONTEXT}))
            check("stdio: another agent consults and sees the outcome",
                  insight["agents"] == 1 and insight["best"]["fix"] == "raise_pool_size", insight)
            closed = body(await s.call_tool("close_loop", {"domain": "db_ops", "context": CONTEXT}))
            check("stdio: close_loop deposits the insight", closed["deposited"], closed)


def start_node(data, tokens):
    node = subprocess.Popen(
        [QIS, "--data", data, "serve", "--tokens", tokens, "--listen", "127.0.0.1:0", "--embedder", "hashed"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = node.stdout.readline()
    m = re.search(r"listening on (http://\S+)", line)
    if not m:
        node.kill()
        raise AssertionError(f"the node did not start: {line!r} {node.stderr.read()}")
    return node, m.group(1)


async def http_session(url, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return create_mcp_http_client(headers=headers)


async def over_http():
    data = tempfile.mkdtemp(prefix="qis-mcp-http-")
    tokens = os.path.join(data, "tokens.toml")
    with open(tokens, "w") as f:
        f.write(f'"{TOKEN_A}" = "site_a"\n"{TOKEN_B}" = "site_b"\n')
        f.write(f'"{TOKEN_LAB}" = {{ agent = "site_a", network = "lab" }}\n')
    node, url = start_node(os.path.join(data, "store"), tokens)
    try:
        async def as_agent(token, fn, path="/mcp"):
            async with await http_session(url, token) as client:
                async with streamable_http_client(f"{url}{path}", http_client=client) as streams:
                    async with ClientSession(streams[0], streams[1]) as s:
                        await s.initialize()
                        return await fn(s)

        async def a(s):
            return body(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "context": CONTEXT, "outcome": "resolved", "confidence": 0.9,
                 "result": {"fix": "raise_pool_size"}},
            ))

        receipt = await as_agent(TOKEN_A, a)
        check("http: A deposits as its token's agent", receipt["agent"] == "site_a", receipt)

        async def b(s):
            insight = body(await s.call_tool("consult", {"domain": "db_ops", "context": CONTEXT}))
            forged = refusal(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "context": CONTEXT, "outcome": "contradicted", "confidence": 1.0,
                 "agent": "site_a"},
            ))
            own = body(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "context": CONTEXT, "outcome": "partial", "confidence": 0.5}))
            listed = body(await s.call_tool("query_outcomes", {"domain": "db_ops", "context": CONTEXT}))
            return insight, forged, own, listed

        insight, forged, own, listed = await as_agent(TOKEN_B, b)
        check("http: B consults and sees A's outcome",
              insight["agents"] == 1 and insight["used"] == [receipt["id"]], insight)
        check("http: B cannot name another agent", forged["field"] == "agent", forged)
        check("http: B's deposit is B's", own["agent"] == "site_b", own)
        agents = sorted(h["packet"]["agent"] for h in listed["hits"])
        check("http: the node holds one packet of each agent", agents == ["site_a", "site_b"], agents)

        # No token, a wrong token: refused before any MCP message is read.
        async with httpx2.AsyncClient() as raw:
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                               "clientInfo": {"name": "raw", "version": "0"}}}
            accept = {"Accept": "application/json, text/event-stream"}
            for token in (None, "not-a-token-of-this-node-xxxxxxxx"):
                headers = dict(accept)
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                r = await raw.post(f"{url}/mcp", json=init, headers=headers)
                check(f"http: {'no' if token is None else 'a wrong'} token is 401 with a JSON body",
                      r.status_code == 401 and r.json()["code"] == "unauthorized", (r.status_code, r.text))

            # A session opened with A's token is A's: B's token cannot ride on it.
            headers = {**accept, "Authorization": f"Bearer {TOKEN_A}"}
            r = await raw.post(f"{url}/mcp", json=init, headers=headers)
            session = r.headers["mcp-session-id"]
            headers.update({"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"})
            await raw.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                           headers=headers)
            headers["Authorization"] = f"Bearer {TOKEN_B}"
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "deposit_outcome",
                               "arguments": {"domain": "db_ops", "context": CONTEXT,
                                             "outcome": "resolved", "confidence": 1.0}}}
            r = await raw.post(f"{url}/mcp", json=call, headers=headers)
            check("http: B's token on A's session is refused",
                  "another token" in r.text and '"isError":true' in r.text, r.text)

        async def count(s):
            return body(await s.call_tool("stats", {}))["packets"]

        check("http: nothing was stored by the refused calls", await as_agent(TOKEN_A, count) == 2)

        async def b_forgets(s):
            return (body(await s.call_tool("forget", {"ids": [receipt["id"]]}))["removed"],
                    body(await s.call_tool("forget", {"everything": True}))["removed"])

        check("http: B cannot forget A's packet, only its own",
              await as_agent(TOKEN_B, b_forgets) == (0, 1))
        check("http: A's packet is still there", await as_agent(TOKEN_A, count) == 1)
        async with httpx2.AsyncClient() as raw:
            r = await raw.get(f"{url}/v1/dashboard", headers={"Authorization": f"Bearer {TOKEN_B}"})
            recent = [d["agent"] for d in r.json()["recent"]]
            check("http: the dashboard shows no forgotten packet", recent == ["site_a"], recent)

        # The network `lab`, at /v1/networks/lab/mcp: the same agent id, a store of its own.
        async def in_lab(s):
            deposited = body(await s.call_tool(
                "deposit_outcome",
                {"domain": "db_ops", "context": CONTEXT, "outcome": "contradicted", "confidence": 0.7}))
            insight = body(await s.call_tool("consult", {"domain": "db_ops", "context": CONTEXT}))
            stats = body(await s.call_tool("stats", {}))
            return deposited, insight, stats

        lab_path = "/v1/networks/lab/mcp"
        deposited, insight, stats = await as_agent(TOKEN_LAB, in_lab, lab_path)
        check("http: lab's consult sees lab's packet only",
              insight["used"] == [deposited["id"]] and insight["outcome"] == "contradicted", insight)
        check("http: lab holds one packet", stats["packets"] == 1, stats)
        check("http: the default network did not get lab's packet", await as_agent(TOKEN_A, count) == 1)
        async with httpx2.AsyncClient() as raw:
            headers = {"Accept": "application/json, text/event-stream",
                       "Authorization": f"Bearer {TOKEN_LAB}"}
            r = await raw.post(f"{url}/mcp", json=init, headers=headers)
            check("http: lab's token on the default network's /mcp is 403 wrong_network",
                  r.status_code == 403 and r.json()["code"] == "wrong_network"
                  and r.json()["field"] == "network", (r.status_code, r.text))
            headers["Authorization"] = f"Bearer {TOKEN_A}"
            r = await raw.post(f"{url}{lab_path}", json=init, headers=headers)
            check("http: the default network's token on lab's /mcp is 403",
                  r.status_code == 403 and r.json()["code"] == "wrong_network", (r.status_code, r.text))
    finally:
        node.terminate()
        node.wait(timeout=20)


async def main():
    await over_stdio()
    await over_http()
    print("all MCP client checks passed")


anyio.run(main)
