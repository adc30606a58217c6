"""/docs tells its reader where a token comes from and what each query parameter does."""

from __future__ import annotations

import pytest

from tests.support.api import Api

pytestmark = pytest.mark.sqlite_only


async def test_the_bearer_scheme_says_where_a_token_comes_from(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert "Better Auth JWT" in scheme["description"]
    assert "`todo-api token <user>` in development" in scheme["description"]


async def test_every_query_parameter_of_the_task_list_is_described(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    parameters = [
        parameter
        for parameter in document["paths"]["/api/{user_id}/tasks"]["get"]["parameters"]
        if parameter["in"] == "query"
    ]
    assert {parameter["name"] for parameter in parameters} >= {"status", "q", "limit", "offset"}
    for parameter in parameters:
        assert parameter.get("description"), parameter["name"]
        assert "description" not in parameter["schema"], parameter["name"]
