"""`qis.AsyncNode`: awaitables that run off the event loop."""

import asyncio
import time

import pytest

import qis


def test_async_node_runs_the_loop_without_blocking_the_event_loop(tmp_path):
    async def main():
        async with qis.AsyncNode("site_a", router=f"file:{tmp_path}", embedder="hashed") as a:
            ticks = 0
            stop = asyncio.Event()

            async def ticker():
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0)

            t = asyncio.create_task(ticker())
            receipts = await asyncio.gather(*[
                a.deposit("d", {"k": i % 4}, outcome="resolved", confidence=0.7, result={"x": i % 3})
                for i in range(200)
            ])
            stop.set()
            await t
            assert all(r.stored for r in receipts) and len({r.id for r in receipts}) == 200
            # The loop kept turning while the deposits ran on the extension's runtime.
            assert ticks > 0, ticks
            insight = await a.consult("d", {"k": 1})
            assert insight.sample_size == 3 and insight.agents == 1, "3 per agent by default"
            insight = await a.consult("d", {"k": 1}, max_per_agent=50)
            assert insight.sample_size == 50 and insight.agents == 1
            hits = await a.query("d", {"k": 1}, limit=5)
            assert len(hits) == 5
            done = await a.close_loop("d", {"k": 1})
            assert done is not None and done[1].stored
            assert (await a.stats()).packets == 201
            with pytest.raises(qis.InvalidPacket) as e:
                await a.deposit("d", {"k": 1}, outcome="resolved", confidence=7)
            assert e.value.field == "confidence"
        with pytest.raises(qis.NodeClosed):
            await a.stats()

    asyncio.run(main())


def test_one_node_serves_two_threads(tmp_path):
    # Two threads deposit through one node; every deposit lands. (That the GIL is released while
    # the store works is what `py.detach` in the extension does; this test does not time it.)
    import threading

    n = qis.Node("site_a", router=f"file:{tmp_path}", embedder="hashed")
    errors = []

    def work(offset):
        try:
            for i in range(100):
                n.deposit("d", {"k": offset}, outcome="open", confidence=0.5, result={"i": i})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and n.stats().packets == 200, errors
    assert time.perf_counter() - start < 60
