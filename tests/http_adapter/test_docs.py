"""`/docs` in a real browser: Swagger UI served by `todo-api` itself, authorized with a token
from `todo-api token`, running a request against the same server; and `/` for a browser."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.http_adapter.browser import chromium
from tests.support.api import Api
from tests.support.processes import todo_api, token

UI_WAIT_S = 30
TITLE = "Water the ficus on the balcony"
LIST_TASKS = "#operations-default-listTasks"


def _wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, UI_WAIT_S)


def _authorize(driver: WebDriver, bearer: str) -> None:
    wait = _wait(driver)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button.authorize"))).click()
    field = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux input")))
    field.send_keys(bearer)
    driver.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper button.authorize").click()
    # Once accepted the dialog offers "Logout" instead of "Authorize".
    logout = ".modal-ux button[aria-label='Remove authorization']"
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, logout)))
    driver.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))


def _open_list_tasks(driver: WebDriver, user_id: str) -> None:
    """Expand GET /api/{user_id}/tasks and fill in the user."""
    wait = _wait(driver)
    operation = f"{LIST_TASKS} .opblock-summary-control"
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, operation))).click()
    # tryItOutEnabled: the parameters are editable as soon as the operation is open.
    user_field = wait.until(
        ec.visibility_of_element_located(
            (By.CSS_SELECTOR, f"{LIST_TASKS} tr[data-param-name='user_id'] input")
        )
    )
    user_field.send_keys(user_id)


def _execute(driver: WebDriver, status: str) -> str:
    """Run the open operation; once the page shows `status`, the rendered response body."""
    driver.find_element(By.CSS_SELECTOR, f"{LIST_TASKS} button.execute").click()
    shown = f"{LIST_TASKS} .live-responses-table .response .response-col_status"
    _wait(driver).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, shown), status))
    body = f"{LIST_TASKS} .live-responses-table .response-col_description pre"
    text: str = driver.find_element(By.CSS_SELECTOR, body).text
    return text


async def test_docs_runs_a_request_with_the_authorized_token(
    tmp_path: Path, database_url: str
) -> None:
    async with todo_api(tmp_path, DATABASE_URL=database_url) as base_url:
        bearer = await token(tmp_path, "alice")
        async with httpx.AsyncClient(base_url=base_url) as client:
            created = await client.post(
                "/api/alice/tasks",
                json={"title": TITLE},
                headers={"Authorization": f"Bearer {bearer}"},
            )
            assert created.status_code == 201, created.text

        with chromium(tmp_path / "profile") as driver:
            driver.get(f"{base_url}/docs")
            _open_list_tasks(driver, "alice")
            # The page really calls the server: without a token, a 401 problem.
            refused = _execute(driver, "401")
            _authorize(driver, bearer)
            listed = _execute(driver, "200")
            loaded = driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            )

    assert "Unauthorized" in refused, refused
    assert TITLE not in refused
    assert TITLE in listed, listed
    # Swagger UI, its styles and the document all came from this server.
    origins = {f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in loaded}
    assert origins == {base_url}, loaded
    assert f"{base_url}/openapi.json" in loaded


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_root_in_a_browser_points_at_the_docs(api: Api) -> None:
    response = await api.client.get("/", headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in response.text
    assert "Accept" in response.headers["vary"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
async def test_root_for_api_clients_stays_json(api: Api, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}

    response = await api.client.get("/", headers=headers)

    assert response.status_code == 200
    assert set(response.json()) == {"message", "version"}


async def test_docs_page_and_assets_are_served_by_the_app(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, page.text
    for asset in assets:
        assert asset.startswith("/docs/"), asset
        response = await api.client.get(asset)
        assert response.status_code == 200, asset


async def test_docs_is_not_part_of_the_openapi_document(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()

    assert not [path for path in document["paths"] if path.startswith("/docs")]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
