"""A web page on another origin follows a user's changes the way docs/live-sync.md shows: it
lists the tasks, keeps `X-Changes-Next`, and opens the events stream with `fetch` (an
`EventSource` cannot send `Authorization`), sending its last id in `Last-Event-ID`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.http_adapter.browser import chromium
from tests.support.processes import todo_api, token

UI_WAIT_S = 30
TITLE = "Call the plumber about the leak"

# The page's script: what docs/live-sync.md gives a web app, with the API and token filled in.
PAGE = """<!doctype html>
<html><body><ul id="seen"></ul><p id="state">starting</p>
<script>
const api = %(api)s, user = "alice", token = %(token)s;
const auth = {Authorization: `Bearer ${token}`};

async function follow() {
  const listed = await fetch(`${api}/api/${user}/tasks`, {headers: auth});
  let lastId = listed.headers.get("X-Changes-Next");
  const response = await fetch(`${api}/api/${user}/events`, {
    headers: {...auth, "Last-Event-ID": lastId},
  });
  document.getElementById("state").textContent = `open ${response.status} from ${lastId}`;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\\n").filter(l => l.startsWith("data:"))
        .map(l => l.slice(5).trim()).join("\\n");
      if (!data) continue;  // a comment keeping the connection open
      const change = JSON.parse(data);
      lastId = String(change.seq);
      const item = document.createElement("li");
      item.textContent = `${change.op}: ${change.task ? change.task.title : change.task_id}`;
      document.getElementById("seen").appendChild(item);
    }
  }
}
follow().catch(error => { document.getElementById("state").textContent = `failed ${error}`; });
</script></body></html>
"""


@contextmanager
def page_server(page: dict[str, str]) -> Iterator[str]:
    """`page["html"]` served from an origin of its own; yields that origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.sqlite_only
async def test_a_page_on_another_origin_sees_a_task_appear(
    tmp_path: Path, database_url: str
) -> None:
    bearer = await token(tmp_path, "alice")
    page: dict[str, str] = {}
    with page_server(page) as origin:
        # Only the page's origin is allowed, as a deployment configures its web app's.
        async with todo_api(tmp_path, DATABASE_URL=database_url, CORS_ORIGINS=origin) as api:
            page["html"] = PAGE % {"api": json.dumps(api), "token": json.dumps(bearer)}
            with chromium(tmp_path / "profile") as driver:
                driver.get(origin)
                wait = WebDriverWait(driver, UI_WAIT_S)
                opened = ec.text_to_be_present_in_element((By.ID, "state"), "open 200")
                await anyio.to_thread.run_sync(wait.until, opened)
                async with httpx.AsyncClient(base_url=api) as client:
                    created = await client.post(
                        "/api/alice/tasks",
                        json={"title": TITLE},
                        headers={"Authorization": f"Bearer {bearer}"},
                    )
                    assert created.status_code == 201, created.text
                seen = ec.text_to_be_present_in_element((By.ID, "seen"), f"created: {TITLE}")
                await anyio.to_thread.run_sync(wait.until, seen)
