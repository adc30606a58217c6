"""Benchmark a chat turn: latency of `POST /api/{user}/chat` when the model answers instantly.

The model is the fake Gemini server of the tests (a real HTTP server on 127.0.0.1, in its own
thread); each turn is one tool round, as in "Add a task to buy groceries": the model calls
`add_task`, gets the task back, answers with text. So a turn costs two model round trips plus
the server's own work (auth, conversation storage, history, the MCP tool call, the reply).

The app runs in-process behind `httpx.ASGITransport` (no socket between client and app; the
model calls do cross a real socket), on a fresh SQLite database. To separate the server's
overhead from the model's, the same number of bare round-trip pairs is timed with the google-genai
SDK alone, sending what the agent sends.

Run with the project's virtualenv: `.venv/bin/python bench/chat.py [--turns N] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
from google import genai
from google.genai import types

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from agent.declarations import function_declarations  # noqa: E402
from agent.prompt import system_instruction  # noqa: E402
from http_adapter.app import build_app  # noqa: E402
from http_adapter.auth import issue_token  # noqa: E402
from http_adapter.settings import ApiSettings  # noqa: E402
from mcp_server.dispatch import ToolDispatcher  # noqa: E402
from mcp_server.server import build_server  # noqa: E402
from tests.support.fake_gemini import Action, FakeGemini, ModelRequest, call, text  # noqa: E402

SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
USER = "bench"
MESSAGE = "Add a task to buy groceries"
MODEL = "gemini-2.5-flash"
WARMUP = 10


class BenchError(RuntimeError):
    pass


def one_tool_round(request: ModelRequest) -> Action:
    """The model: add_task first, then a short confirmation once the result comes back."""
    if request.function_responses():
        return text("Added 'Buy groceries'.")
    return call("add_task", {"title": "Buy groceries"})


async def time_calls(runs: int, once: Callable[[], Awaitable[None]]) -> list[float]:
    for _ in range(WARMUP):
        await once()
    timings: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        await once()
        timings.append(time.perf_counter() - started)
    return timings


async def chat_turns(fake: FakeGemini, data_dir: Path, turns: int) -> list[float]:
    """Seconds per chat turn through the real app, each turn a new conversation."""
    settings = ApiSettings(
        _env_file=None,
        DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'todo.db'}",
        TODO_DATA_DIR=str(data_dir),
        BETTER_AUTH_SECRET=SECRET,
        GEMINI_API_KEY="bench-key",
        GEMINI_BASE_URL=fake.url,
        CHAT_RATE_LIMIT=1_000_000,
    )
    headers = {"Authorization": f"Bearer {issue_token(settings, SECRET, USER, 3600)}"}
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

            async def turn() -> None:
                response = await client.post(
                    f"/api/{USER}/chat", json={"message": MESSAGE}, headers=headers
                )
                if response.status_code != 200 or len(response.json()["tool_calls"]) != 1:
                    raise BenchError(f"chat answered {response.status_code}: {response.text}")

            return await time_calls(turns, turn)


async def model_round_trips(fake: FakeGemini, data_dir: Path, pairs: int) -> list[float]:
    """Seconds per pair of bare SDK round trips: the two requests of a one-tool-round turn."""
    settings = ApiSettings(_env_file=None, DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'x.db'}")
    declarations = function_declarations(await ToolDispatcher(build_server(settings)).tools())
    config = types.GenerateContentConfig(
        system_instruction=system_instruction(datetime.now(UTC).date()),
        tools=[types.Tool(function_declarations=declarations)],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    task = {"id": 1, "title": "Buy groceries", "completed": False, "priority": "medium"}
    client = genai.Client(
        api_key="bench-key", http_options=types.HttpOptions(base_url=fake.url, timeout=60_000)
    )
    models = client.aio.models

    async def pair() -> None:
        contents = [types.Content(role="user", parts=[types.Part(text=MESSAGE)])]
        first = await models.generate_content(model=MODEL, contents=contents, config=config)
        if not first.function_calls:
            raise BenchError("the fake model did not call a function")
        assert first.candidates is not None
        assert first.candidates[0].content is not None
        contents.append(first.candidates[0].content)
        fc = first.function_calls[0]
        response = types.FunctionResponse(id=fc.id, name=fc.name, response={"result": task})
        contents.append(types.Content(role="user", parts=[types.Part(function_response=response)]))
        second = await models.generate_content(model=MODEL, contents=contents, config=config)
        if not second.text:
            raise BenchError("the fake model did not answer with text")

    try:
        return await time_calls(pairs, pair)
    finally:
        await client.aio.aclose()


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": _ms(statistics.median(values)),
        "p95_ms": _ms(_p95(values)),
        "mean_ms": _ms(statistics.fmean(values)),
    }


async def run(turns: int) -> dict[str, Any]:
    with FakeGemini() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.respond(one_tool_round)
        turn_times = await chat_turns(fake, Path(tmp), turns)
        pair_times = await model_round_trips(fake, Path(tmp), turns)
    results: dict[str, Any] = {
        "turns": turns,
        "chat_turn": summary(turn_times),
        "model_round_trips_x2": summary(pair_times),
        "model_round_trip_x1": {k: round(v / 2, 2) for k, v in summary(pair_times).items()},
    }
    results["server_overhead"] = {
        key: round(results["chat_turn"][key] - results["model_round_trips_x2"][key], 2)
        for key in ("p50_ms", "p95_ms", "mean_ms")
    }
    return results


def print_table(results: dict[str, Any]) -> None:
    rows = [
        ("chat turn (1 tool round)", results["chat_turn"]),
        ("2 model round trips (SDK)", results["model_round_trips_x2"]),
        ("1 model round trip (SDK)", results["model_round_trip_x1"]),
        ("server overhead (difference)", results["server_overhead"]),
    ]
    print(f"chat turns: {results['turns']}, SQLite, in-process ASGI app, instant fake model")
    print(f"{'':30} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9}")
    for label, values in rows:
        p50, p95, mean = values["p50_ms"], values["p95_ms"], values["mean_ms"]
        print(f"{label:30} {p50:9.2f} {p95:9.2f} {mean:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=200, help="measured turns (default 200)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.turns < 2:
        parser.error("--turns must be at least 2")
    results = anyio.run(run, args.turns)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
