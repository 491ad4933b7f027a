"""Log lines: plain text (the default, for a terminal) or one JSON object per line
(`SHEETFLOW_LOG_FORMAT=json`, for a log shipper), each carrying the id of the request it
belongs to.

The request id comes from the request's `X-Request-ID` header when it is a sane one, else it is
made here (`service.api.observability` sets it and returns it in the response). It lives in a
context variable, so it follows the request into every task and thread started for it (the
ingestion, its COPY, the ANALYZE after it); importing this module makes every log record carry
it (`request_id`, None outside a request). The parsing worker, another process, gets it in its
request and logs with it too (`configure_worker`).

What is never logged: tokens (they travel in headers, which are not logged), file content and
row data (only counts, sizes and ids are). uvicorn's access lines lose their query string, which
may hold a search over row values (`…/values?search=`).
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

import msgspec

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
FORMATS = ("text", "json")
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_encode = msgspec.json.Encoder().encode

_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = REQUEST_ID.get()
    return record


if not getattr(logging.getLogRecordFactory(), "carries_request_id", False):
    _record_with_request_id.carries_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_record_with_request_id)


def request_id_from(header: str | None) -> str:
    """The client's id when it is one (1-128 characters, no spaces or controls), else a new
    one: an id is for finding lines, so a bad one is replaced rather than refused."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process,
    request_id when there is one, and the exception's trace when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry).decode()


class TextFormatter(logging.Formatter):
    """uvicorn's look (`LEVEL:     message`), with the request id after the message."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname + ':':<10}{record.getMessage()}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            line += f" [request {request_id}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class PathWithoutQuery(logging.Filter):
    """uvicorn's access line without the query string (it may hold a search over row values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def _formatter(log_format: str) -> dict[str, Any]:
    name = "JsonFormatter" if log_format == "json" else "TextFormatter"
    return {"()": f"service.logs.{name}"}


def uvicorn_config(log_format: str) -> dict[str, Any]:
    """The `log_config` for uvicorn (it applies it in every web process): its own loggers,
    in JSON or with their usual look, access lines without query strings, and the service's
    loggers (`sheetflow.*`) at INFO on stderr."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    if log_format == "json":
        for name in config["formatters"]:
            config["formatters"][name] = _formatter("json")
    config["formatters"]["sheetflow"] = _formatter(log_format)
    config["filters"] = {"path_without_query": {"()": "service.logs.PathWithoutQuery"}}
    config["handlers"]["access"]["filters"] = ["path_without_query"]
    config["handlers"]["sheetflow"] = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "sheetflow",
    }
    config["loggers"]["sheetflow"] = {
        "handlers": ["sheetflow"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def litestar_formatters(log_format: str) -> dict[str, dict[str, Any]]:
    """The formatter of Litestar's own logger (unexpected exceptions with their traces)."""
    if log_format == "json":
        return {"standard": _formatter("json")}
    return {"standard": {"format": "%(levelname)s - %(asctime)s - %(name)s - %(message)s"}}


WORKER_MARK = "\x1e"
"""Starts each log line of the parsing worker on its stderr, which the service reads: marked
lines go on to the service's stderr, the rest (a crash's last words) is kept for the error."""


class _Marked(logging.Formatter):
    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return WORKER_MARK + self.inner.format(record).replace("\n", "\n" + WORKER_MARK)


def configure_worker(log_format: str, request_id: str | None) -> None:
    """The parsing worker's logging: `sheetflow.*` at INFO on stderr, in the service's format,
    with the id of the request it parses for (the service relays these lines)."""
    REQUEST_ID.set(request_id)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Marked(JsonFormatter() if log_format == "json" else TextFormatter()))
    logger = logging.getLogger("sheetflow")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


class WorkerLines:
    """Splits what a parsing worker writes on its stderr: its log lines (marked) are written
    to this process's stderr as they come; `feed` returns the rest."""

    MAX_LINE = 1 << 16

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, chunk: bytes) -> bytes:
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        rest = b""
        if len(self.pending) > self.MAX_LINE:  # no line this long is a log line
            rest, self.pending = self.pending, b""
        return b"".join(self._route(line + b"\n") for line in lines) + rest

    def rest(self) -> bytes:
        pending, self.pending = self.pending, b""
        return self._route(pending) if pending else b""

    @staticmethod
    def _route(line: bytes) -> bytes:
        if line.startswith(WORKER_MARK.encode()):
            sys.stderr.write(line[1:].decode(errors="replace"))
            sys.stderr.flush()
            return b""
        return line
