"""`POST /api/{user_id}/chatkit`: the ChatKit server protocol, when the `chatkit` extra is
installed.

`openai-chatkit` imports `openai` and `openai-agents`, a second or more of start-up that most
servers never use: it is imported the first time the route is asked (in a worker thread, so
that the server keeps answering meanwhile), never at start. Without the extra the route
answers 501 saying how to install it.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from types import ModuleType
from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.responses import Response

from http_adapter import route_table
from http_adapter.chat_turns import TurnStarter, read_bytes
from http_adapter.endpoints import MAX_BODY_BYTES, Handler
from http_adapter.operations import Operation
from http_adapter.problems import HTTPProblem

if TYPE_CHECKING:
    from http_adapter.chatkit_server import TodoChatKitServer

NOT_INSTALLED = (
    "ChatKit is not enabled on this server: install the chatkit extra "
    "(pip install 'todo-mcp[chatkit]') and restart it."
)


def chatkit_available() -> bool:
    try:
        return importlib.util.find_spec("chatkit") is not None
    except ValueError:  # a package blocked or half-imported (sys.modules holds None)
        return False


def _import_server() -> ModuleType:
    # The package deprecates, as it defines them, the widget classes it still uses itself:
    # a warning about its own code, which nothing here can act on.
    warnings.filterwarnings(
        "ignore", message="Direct usage of named widget classes", category=DeprecationWarning
    )
    return importlib.import_module("http_adapter.chatkit_server")


def chatkit_handlers(starter: TurnStarter) -> dict[Operation, Handler]:
    ctx = starter.ctx
    server: TodoChatKitServer | None = None
    loading = anyio.Lock()

    async def load() -> TodoChatKitServer:
        nonlocal server
        async with loading:
            if server is None:
                module = await anyio.to_thread.run_sync(_import_server)
                server = module.TodoChatKitServer(starter.conversations, starter)
        return server

    async def chatkit(request: Request) -> Response:
        user = await ctx.authorize(request)
        if not chatkit_available():
            raise HTTPProblem(501, NOT_INSTALLED)
        body = await read_bytes(request, MAX_BODY_BYTES)
        return await (await load()).answer(body, user)

    return {route_table.CHATKIT: chatkit}
