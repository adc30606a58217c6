"""`X-Forwarded-Proto` is believed only from the proxies `FORWARDED_ALLOW_IPS` names (none by
default), and `X-Forwarded-Host` and `Forwarded` never: a real `todo-api`, whose `Location`
shows which scheme and host it took for its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt

from tests.support.processes import todo_api_process

SECRET = "a-secret-for-the-forwarding-tests-0123456789abcdef"
CLAIMS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "Forwarded": "proto=https;host=evil.example",
}


async def location_of_a_create(tmp_path: Path, **settings: str) -> tuple[str, int]:
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, SECRET, algorithm="HS256")
    async with todo_api_process(
        tmp_path,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}",
        BETTER_AUTH_SECRET=SECRET,
        **settings,
    ) as server:
        await server.wait_until_serving()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            created = await client.post(
                "/api/alice/tasks",
                json={"title": "x"},
                headers={"Authorization": f"Bearer {token}", **CLAIMS},
            )
        assert created.status_code == 201, created.text
        return created.headers["location"], server.port


async def test_forwarded_headers_from_a_client_change_nothing(tmp_path: Path) -> None:
    location, port = await location_of_a_create(tmp_path)

    assert location.startswith(f"http://127.0.0.1:{port}/api/alice/tasks/")


async def test_a_configured_proxys_scheme_is_believed_but_never_its_host(tmp_path: Path) -> None:
    location, port = await location_of_a_create(tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1")

    assert location.startswith(f"https://127.0.0.1:{port}/api/alice/tasks/")
