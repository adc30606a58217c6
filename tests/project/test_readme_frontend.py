"""The frontend developer's path in the README: `openapi-typescript` turns the served OpenAPI
document into TypeScript with the task routes, and the README's client code type-checks
against it (and a mistake in it would not)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest

from tests.project.node_tools import node_tool
from tests.project.readme import code_blocks, section
from tests.support.api import Api

GENERATE_S = 120
# What the README's snippet takes from the surrounding app: the signed-in client and API base.
AMBIENT = """
declare const API: string;
declare const authClient: { token(): Promise<{ data: { token: string } | null }> };
"""
USE = """
addTask("alice", { title: "Buy milk", tags: ["home"] }).then((task) => task.due_date);
"""
MISTAKE = """
addTask("alice", { title: "Buy milk", priority: "urgent" });
"""
TSC = ("--noEmit", "--strict", "--target", "es2022", "--module", "esnext", "--lib", "es2022,dom")


def _generate_command(output: Path, document: Path) -> list[str]:
    """The README's `npx openapi-typescript URL [options] -o FILE`, with the served document
    saved in `document` as its input and `output` as its output."""
    text = section("A Next.js + Better Auth frontend")
    lines = [line for block in code_blocks(text, "sh") for line in block.splitlines()]
    found = [line.split() for line in lines if line.startswith("npx openapi-typescript ")]
    assert len(found) == 1, lines
    _, _, url, *options = found[0]
    assert url.endswith("/openapi.json")
    assert options[-2] == "-o"
    return [node_tool("openapi-typescript"), str(document), *options[:-1], str(output)]


async def _tsc(*files: Path) -> subprocess.CompletedProcess[bytes]:
    with anyio.fail_after(GENERATE_S):
        return await anyio.run_process([node_tool("tsc"), *TSC, *map(str, files)], check=False)


@pytest.mark.sqlite_only
async def test_openapi_typescript_client_has_the_task_routes_and_compiles(
    api: Api, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    await anyio.Path(document).write_bytes((await api.client.get("/openapi.json")).content)
    generated = tmp_path / "todo-api.d.ts"
    with anyio.fail_after(GENERATE_S):
        await anyio.run_process(_generate_command(generated, document))

    types = await anyio.Path(generated).read_text()
    for path in ("/api/{user_id}/tasks", "/api/{user_id}/tasks/{task_id}", "/api/{user_id}/chat"):
        assert f'"{path}": {{' in types, path
    [snippet] = code_blocks(section("A Next.js + Better Auth frontend"), "ts")[1:]
    # One compiler run over two modules: the README's code used as documented, and misused.
    right, wrong = tmp_path / "client.ts", tmp_path / "mistake.ts"
    await anyio.Path(right).write_text(snippet + AMBIENT + USE)
    await anyio.Path(wrong).write_text(snippet + AMBIENT + MISTAKE)
    compiled = await _tsc(right, wrong)

    errors = [line for line in compiled.stdout.decode().splitlines() if "error TS" in line]
    assert compiled.returncode != 0
    assert errors, compiled.stdout.decode()
    assert all(line.startswith(str(wrong)) or "mistake.ts" in line for line in errors), errors
    assert any('"urgent"' in line for line in errors), errors
