"""The smallest fastmcp stdio server: the baseline `bench/stdio.py` compares todo-mcp against."""

from fastmcp import FastMCP

mcp = FastMCP("hello")


@mcp.tool
def ping() -> str:
    """Answer "pong"."""
    return "pong"


if __name__ == "__main__":
    # As todo-mcp does: the banner would cost a PyPI update check on every start.
    mcp.run(transport="stdio", show_banner=False)
