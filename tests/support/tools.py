"""The MCP tools a user of todo-mcp sees, by name: what every transport must list."""

from __future__ import annotations

TOOL_NAMES = frozenset(
    {
        "add_task",
        "list_tasks",
        "get_task",
        "update_task",
        "complete_task",
        "delete_task",
        "add_tasks",
        "complete_tasks",
        "add_list",
        "list_lists",
        "update_list",
        "delete_list",
    }
)
