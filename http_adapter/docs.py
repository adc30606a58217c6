"""The API documentation for people: Swagger UI at `/docs` over `/openapi.json`, and a page at
`/` for a browser. The pages are files in `http_adapter/pages`; Swagger UI's assets come from the
`swagger-ui-bundle-v2` package, so the docs need nothing from outside the server."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

PAGES = Path(str(files("http_adapter") / "pages"))
# The package's own `swagger_ui_path` names a versioned directory; found the same way here.
SWAGGER_UI = next(Path(str(files("swagger_ui_bundle") / "vendor")).glob("swagger-ui-*"))


def wants_html(request: Request) -> bool:
    """A browser asks for text/html; API clients (curl's */*, fetch's application/json) do not."""
    return "text/html" in request.headers.get("accept", "")


def home_page() -> Response:
    return HTMLResponse((PAGES / "index.html").read_bytes(), headers={"Vary": "Accept"})


def docs_routes() -> list[BaseRoute]:
    page = (PAGES / "docs.html").read_bytes()

    async def docs(_request: Request) -> Response:
        return HTMLResponse(page)

    return [
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/page", StaticFiles(directory=PAGES), name="docs-page"),
        Mount("/docs/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui"),
    ]
