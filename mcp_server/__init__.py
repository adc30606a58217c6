"""The todo-mcp MCP server: task tools over the per-user task store."""
