"""The in-flight meter: a request counts while it is answered; an event stream stops counting
once it has started (it stays open for minutes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from app.api.inflight import InFlight, InFlightMiddleware


def _app(meter: InFlight, seen: list[int]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(InFlightMiddleware, meter=meter)

    @app.get("/plain")
    def plain() -> dict[str, int]:
        seen.append(meter.count)
        return {"ok": 1}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            for n in range(3):
                await asyncio.sleep(0)
                seen.append(meter.count)
                yield f"data: {n}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def test_a_request_counts_until_answered_and_a_stream_only_until_it_starts() -> None:
    meter, seen = InFlight(), []
    with TestClient(_app(meter, seen)) as client:
        assert client.get("/plain").status_code == 200
        assert seen == [1] and meter.count == 0
        seen.clear()
        with client.stream("GET", "/stream") as response:
            assert response.status_code == 200
            assert len(list(response.iter_lines())) >= 3
        assert seen == [0, 0, 0] and meter.count == 0
        assert not meter.busy()
