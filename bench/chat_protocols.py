"""Benchmark the chat UI protocols: what each adds to a chat turn over `/chat`'s own.

The same turn as `bench/chat.py` (the fake model calls `add_task`, then answers at once) sent
through each protocol of the in-process app on a fresh SQLite database, each turn in a new
conversation: `/chat` as JSON and as SSE, ChatKit (`threads.create`), and the AI SDK stream
(`/chat/ai-sdk` with a new `id`). The protocols take turns, round after round, so machine noise
hits all alike. The model's share is the same in every protocol, so the server-side overhead of
a protocol is its turn time minus the `/chat` turn time plus `/chat`'s own overhead, measured
in `bench/chat.py`; here we report each protocol's turn time and its difference from `/chat`
over SSE (the like-for-like streamed baseline).

Run with the project's virtualenv: `.venv/bin/python bench/chat_protocols.py [--turns N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.chat import SECRET, USER, one_tool_round  # noqa: E402
from http_adapter.app import build_app  # noqa: E402
from http_adapter.auth import issue_token  # noqa: E402
from http_adapter.settings import ApiSettings  # noqa: E402
from tests.support.fake_gemini import FakeGemini  # noqa: E402

MESSAGE = "Add a task to buy groceries"
WARMUP = 5
Turn = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[None]]


class BenchError(RuntimeError):
    pass


def _check(response: httpx.Response, needle: str) -> None:
    if response.status_code != 200 or needle not in response.text:
        raise BenchError(f"answered {response.status_code}: {response.text[:300]}")


async def chat_json(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post(f"/api/{USER}/chat", json={"message": MESSAGE}, headers=headers)
    _check(response, "add_task")


async def chat_sse(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post(
        f"/api/{USER}/chat",
        json={"message": MESSAGE},
        headers={**headers, "Accept": "text/event-stream"},
    )
    _check(response, "event: done")


async def chatkit(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    body = {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": MESSAGE}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }
    response = await client.post(f"/api/{USER}/chatkit", json=body, headers=headers)
    _check(response, '"assistant_message"')


async def ai_sdk(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    body = {
        "id": uuid.uuid4().hex,
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": MESSAGE}]}],
        "trigger": "submit-message",
    }
    response = await client.post(f"/api/{USER}/chat/ai-sdk", json=body, headers=headers)
    _check(response, '"finish"')


PROTOCOLS: dict[str, Turn] = {
    "/chat JSON": chat_json,
    "/chat SSE": chat_sse,
    "/chatkit": chatkit,
    "/chat/ai-sdk": ai_sdk,
}


async def run(turns: int) -> dict[str, Any]:
    timings: dict[str, list[float]] = {name: [] for name in PROTOCOLS}
    cpu: dict[str, list[float]] = {name: [] for name in PROTOCOLS}
    with FakeGemini() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.respond(one_tool_round)
        settings = ApiSettings(
            _env_file=None,
            DATABASE_URL=f"sqlite+aiosqlite:///{Path(tmp) / 'todo.db'}",
            TODO_DATA_DIR=tmp,
            BETTER_AUTH_SECRET=SECRET,
            GEMINI_API_KEY="bench-key",
            GEMINI_BASE_URL=fake.url,
            CHAT_RATE_LIMIT=1_000_000,
        )
        headers = {"Authorization": f"Bearer {issue_token(settings, SECRET, USER, 3600)}"}
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", timeout=60
            ) as client:
                for round_ in range(WARMUP + turns):
                    for name, turn in PROTOCOLS.items():
                        started, cpu_started = time.perf_counter(), time.process_time()
                        await turn(client, headers)
                        if round_ >= WARMUP:
                            timings[name].append(time.perf_counter() - started)
                            cpu[name].append(time.process_time() - cpu_started)
    base = statistics.median(timings["/chat SSE"])
    cpu_base = statistics.median(cpu["/chat SSE"])
    return {
        "turns": turns,
        "protocols": {
            name: {
                "p50_ms": round(statistics.median(values) * 1000, 2),
                "mean_ms": round(statistics.fmean(values) * 1000, 2),
                "p50_minus_chat_sse_ms": round((statistics.median(values) - base) * 1000, 2),
                # CPU time of the whole process (app and fake model) a turn: less sensitive
                # than wall time to other work on a shared machine.
                "cpu_p50_ms": round(statistics.median(cpu[name]) * 1000, 2),
                "cpu_p50_vs_chat_sse": round(statistics.median(cpu[name]) / cpu_base, 3),
            }
            for name, values in timings.items()
        },
    }


def print_table(results: dict[str, Any]) -> None:
    print(f"turns per protocol: {results['turns']}, SQLite, in-process app, instant fake model")
    heads = ("p50 ms", 9), ("mean ms", 9), ("p50 - /chat SSE", 16), ("CPU p50 ms", 11)
    print(f"{'':16} " + " ".join(f"{h:>{w}}" for h, w in heads) + f" {'CPU ratio':>10}")
    for name, v in results["protocols"].items():
        print(
            f"{name:16} {v['p50_ms']:9.2f} {v['mean_ms']:9.2f} {v['p50_minus_chat_sse_ms']:16.2f}"
            f" {v['cpu_p50_ms']:11.2f} {v['cpu_p50_vs_chat_sse']:10.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=40, help="measured turns each (default 40)")
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
