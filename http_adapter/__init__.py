"""The HTTP adapter: REST, chat and MCP over Streamable HTTP."""
