"""The chat agent: Gemini managing tasks through the MCP tools."""
