# syntax=docker/dockerfile:1

# Build stage: uv installs exactly what uv.lock pins (the project itself not editable) into a
# virtualenv that the runtime stage copies, so neither the sources nor the installer end up in
# the final image. Downloads stay in BuildKit cache mounts: quick rebuilds, nothing in a layer.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/uv && /opt/uv/bin/pip install uv==0.13.9
WORKDIR /src
# The dependencies first, in a layer of their own that only a change of the lock rebuilds. The
# image serves every chat UI: the chatkit extra (the ChatKit protocol) is installed.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --locked --extra chatkit --no-install-project
COPY storage ./storage
COPY mcp_server ./mcp_server
COPY http_adapter ./http_adapter
COPY agent ./agent
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --locked --extra chatkit --no-editable

FROM python:3.11-slim
# PORT: todo-api listens there; platforms (Cloud Run, Render, a Docker Space) set their own.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TODO_DATA_DIR=/data \
    PORT=8000
RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /data --no-create-home todo \
    && mkdir /data \
    && chown todo:todo /data
COPY --from=build /opt/venv /opt/venv
# The default SQLite database and the generated dev secret live here; mount a volume to keep them.
VOLUME /data
WORKDIR /data
# Numeric, so that platforms checking "runAsNonRoot" can tell without /etc/passwd.
USER 10001:10001
EXPOSE 8000
# urlopen raises on 503, which /health answers when the database is unreachable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=4)"]
# todo-api reads its port from PORT; on 0.0.0.0 it is reachable from outside the container.
# `docker run -i --rm IMAGE todo-mcp --user alice` runs the stdio MCP server instead.
CMD ["todo-api", "--host", "0.0.0.0"]
