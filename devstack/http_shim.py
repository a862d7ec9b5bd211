"""Serve the embedded chdb engine over (enough of) ClickHouse's HTTP interface.

chdb runs in-process and one data path can be opened by one process only, so nothing
outside the product can reach the embedded cold tier. This shim, started inside the process
that owns the engine, speaks the subset of the HTTP protocol that `clickhouse-connect` and
`curl` use: the SQL in the body or the `query` parameter, `param_*` bindings, `database`,
any other parameter as a setting, `FORMAT` in the SQL (TabSeparated by default), INSERT
data after `FORMAT x` (plain or chunked, optionally compressed), `/ping`, and errors
as `X-ClickHouse-Exception-Code` plus the message. Two uses: tests run the server transport
against the real engine, and operators run read-only SQL while the product runs.

Every request gets its own chdb handle (about 0.1 ms to open), so SET, USE and readonly
never leak between requests or into the product's own handles. There is no
authentication: bind it to loopback.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scheduler.cold.statements import READ_STATEMENTS, statement_kind
from scheduler.errors import EmbeddedEngineMissing

try:
    import chdb.session
except ImportError as exc:  # the `embedded` extra is not installed
    raise EmbeddedEngineMissing from exc

# chdb ships no type hints; one Any-typed name keeps mypy --strict quiet and honest.
Session: Any = chdb.session.Session

# URL parameters that steer the HTTP exchange itself; everything else is a setting.
_TRANSPORT_PARAMS = frozenset(
    {
        "query", "database", "default_format", "user", "password", "quota_key", "role",
        "session_id", "session_timeout", "session_check", "query_id", "compress", "decompress",
        "buffer_size", "wait_end_of_query", "client_protocol_version", "enable_http_compression",
        "send_progress_in_http_headers", "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
    }
)  # fmt: skip
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INSERT_HEAD = re.compile(rb"^\s*(INSERT\s+INTO\s+.+?)\s+FORMAT\s+(\w+)[ \t]*\r?\n?", re.I | re.S)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
_ERROR_CODE = re.compile(r"Code: (\d+)\.")
# The HTTP status ClickHouse itself answers for the commonest codes.
_STATUS_BY_CODE = {
    36: 400, 46: 400, 47: 400, 62: 400, 115: 400, 60: 404, 81: 404, 164: 403, 497: 403, 516: 401
}  # fmt: skip


class _Refused(Exception):
    """The shim is read-only and the statement is not a read."""


def _normalized(sql: str) -> str:
    """`sql` without its FORMAT clause, trailing `;` and extra whitespace."""
    return " ".join(_TRAILING_FORMAT.sub("", sql).split()).rstrip(";").rstrip()


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _decode_body(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity":
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "lz4":
        import lz4.frame  # clickhouse-connect's default; one frame per block, so loop

        parts = []
        while body:
            frame = lz4.frame.LZ4FrameDecompressor()
            parts.append(frame.decompress(body))
            body = frame.unused_data
        return b"".join(parts)
    if encoding == "zstd":
        from backports import zstd  # what clickhouse-connect compresses with on 3.11

        return bytes(zstd.decompress(body))
    raise ValueError(f"Code: 36. DB::Exception: unsupported Content-Encoding {encoding!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients pool their connections
    server: _ShimServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no per-request access log on stderr

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return _decode_body(body, self.headers.get("Content-Encoding", ""))

    def _handle(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        try:
            body = self._read_body()
            if url.path.rstrip("/") in ("/ping", "") and "query" not in params and not body:
                self._reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
                return
            sql = params.get("query", "").encode() + (b"\n" if "query" in params and body else b"")
            payload, headers = self.server.execute(sql + body, params, self.headers, query_id)
        except _Refused as exc:
            self._error(403, 164, f"Code: 164. DB::Exception: {exc}. (READONLY)")
        except Exception as exc:  # chdb raises RuntimeError subclasses with the server text
            message = str(exc)
            match = _ERROR_CODE.search(message)
            code = int(match.group(1)) if match else 1002
            self._error(_STATUS_BY_CODE.get(code, 500), code, message)
        else:
            self._reply(200, payload, {**headers, "X-ClickHouse-Query-Id": query_id})

    def _error(self, status: int, code: int, message: str) -> None:
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(code),
        }
        self._reply(status, message.strip().encode() + b"\n", headers)

    def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "X-ClickHouse-Server-Display-Name": "chdb-shim"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _ShimServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], path: str, readonly: bool, allowed: Collection[str]
    ) -> None:
        super().__init__(address, _Handler)
        self.path = path
        self.readonly = readonly
        self.allowed = frozenset(_normalized(sql) for sql in allowed)
        self._open: set[socket.socket] = set()  # keep-alive connections being served
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """End every open connection (clients see the server go away, as it would)."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def execute(
        self, raw: bytes, params: dict[str, str], headers: Any, query_id: str
    ) -> tuple[bytes, dict[str, str]]:
        insert = _INSERT_HEAD.match(raw)
        sql = raw[: insert.end()].decode() if insert else raw.decode()
        # The few exact statements `allowed` besides reads (table maintenance) run as
        # they are; anything else on a read-only shim must be a read, and runs read-only.
        readonly = self.readonly and _normalized(sql) not in self.allowed
        if readonly and statement_kind(sql) not in READ_STATEMENTS:
            raise _Refused(f"only {', '.join(sorted(READ_STATEMENTS))} are allowed here")
        session = Session(self.path)
        try:
            database = params.get("database") or headers.get("X-ClickHouse-Database")
            if database:
                session.query(f"USE `{database.replace(chr(92), '').replace('`', '')}`")
            for name, value in params.items():
                if name in _TRANSPORT_PARAMS or name.startswith("param_"):
                    continue
                if self.readonly and name == "readonly":
                    continue  # the operator cannot lift the shim's own readonly
                if not _SETTING_NAME.match(name):
                    raise ValueError(f"Code: 115. DB::Exception: bad setting name {name!r}")
                session.query(f"SET {name} = {_quote(value)}")
            if readonly:
                # ClickHouse's own guard also catches writes hidden in a read statement
                # (table functions, multi-statements): readonly=1 is per handle.
                session.query("SET readonly = 1")
            started = time.perf_counter_ns()
            bind = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
            if insert:
                with session.send_insert(insert.group(1).decode(), insert.group(2).decode()) as ins:
                    ins.append(raw[insert.end() :])
                    done = ins.finish()
                summary = {"written_rows": done.rows_written, "written_bytes": done.bytes_written}
                return b"", self._headers("TabSeparated", summary, started)
            fmt_match = _TRAILING_FORMAT.search(sql)
            fmt = fmt_match.group(1) if fmt_match else params.get("default_format", "TabSeparated")
            result = session.query(sql, fmt, params=bind)
            data = result.bytes()
            summary = {
                "read_rows": result.rows_read(),
                "read_bytes": result.bytes_read(),
                "written_rows": result.rows_written(),
                "written_bytes": result.bytes_written(),
                "result_bytes": len(data),
            }
            return data, self._headers(fmt, summary, started)
        finally:
            session.close()

    @staticmethod
    def _headers(fmt: str, summary: dict[str, int], started: int) -> dict[str, str]:
        summary["elapsed_ns"] = time.perf_counter_ns() - started
        return {
            "Content-Type": "application/octet-stream",
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Timezone": "UTC",
            "X-ClickHouse-Summary": json.dumps(
                {k: str(v) for k, v in summary.items()}, separators=(",", ":")
            ),
        }


class HttpShim:
    """A ClickHouse-compatible HTTP endpoint on the chdb engine at `path`.

    `readonly=True` refuses anything but SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS and
    also runs each request with ClickHouse's `readonly = 1`, except the exact statements
    in `allowed` (whitespace, a trailing `;` and a FORMAT clause aside).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        readonly: bool = False,
        allowed: Collection[str] = (),
    ) -> None:
        # chdb compares engine paths literally: use the spelling EmbeddedClickHouse uses.
        resolved = str(Path(path).resolve())
        self._server = _ShimServer((host, port), resolved, readonly, allowed)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="chdb-http-shim", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HttpShim:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._server.drop_connections()

    def __enter__(self) -> HttpShim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
