"""Logging of `todo-api`: one line per record on stderr, readable text or JSON (`LOG_FORMAT`),
each carrying the id of the request it was made for.

Every logger goes through the one handler: ours, uvicorn's, alembic's, and fastmcp's (which
otherwise writes wrapped, multi-line text of its own). Values a client chooses (a tool name, a
resource URI) can reach a message, so no record may start a line of its own: JSON escapes every
control character, and the text format escapes them in the message and indents a traceback."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from http_adapter.middleware import current_request_id

# Fields the access log passes as `extra`; a JSON line carries them as its own keys.
_EXTRA_FIELDS = ("method", "route", "status", "duration_ms", "user")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: whatever a log reader
# might take for the end of a line, or that a terminal would act on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# A traceback's lines in the text format: indented, so none of them reads as a record.
_CONTINUATION = "\n    | "


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escaped(text: str) -> str:
    """`text` with its control characters written as `\\xNN` / `\\uNNNN`: one line, no NUL."""
    return _CONTROL.sub(_escape_one, text)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the id of the request being served, or `-`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line. A traceback, when there is one, is a string field of it."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            line["request_id"] = request_id
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # ASCII: JSON escapes C0 controls either way; this also escapes U+2028, U+0085 and the
        # like, which some readers split lines on.
        return json.dumps(line, ensure_ascii=True, default=str)


class TextFormatter(logging.Formatter):
    """`logging.Formatter` with the message escaped and a traceback indented under it."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = escaped(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for block in extra:
            lines = _CONTROL_BUT_NEWLINE.sub(_escape_one, block.rstrip("\n")).split("\n")
            text += _CONTINUATION + _CONTINUATION.join(lines)
        return text


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Replace the root logger's handlers with one on stderr in `log_format` (`text`/`json`),
    and send every other logger's records to it (their own handlers removed). fastmcp adds its
    handlers when it is imported: `create_app` calls this after importing it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            for old in list(logger.handlers):
                logger.removeHandler(old)
            logger.propagate = True
    # Python's warnings, too, become records rather than multi-line text on stderr.
    logging.captureWarnings(True)
    # The model client's HTTP library logs every call with its URL: the access log and the
    # model-call metrics already tell it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
