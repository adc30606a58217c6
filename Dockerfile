# syntax=docker/dockerfile:1

# Build stage: install the project (not editable) into a virtualenv that the runtime stage copies,
# so neither the sources nor pip's leftovers end up in the final image.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY storage ./storage
COPY mcp_server ./mcp_server
COPY http_adapter ./http_adapter
COPY agent ./agent
RUN /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TODO_DATA_DIR=/data
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home todo \
    && mkdir /data \
    && chown todo:todo /data
COPY --from=build /opt/venv /opt/venv
# The default SQLite database and the generated dev secret live here; mount a volume to keep them.
VOLUME /data
WORKDIR /data
USER todo
EXPOSE 8000
# urlopen raises on 503, which /health answers when the database is unreachable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health\", timeout=4)"]
# The port is $PORT when the platform sets one, else 8000.
CMD ["todo-api", "--host", "0.0.0.0"]
