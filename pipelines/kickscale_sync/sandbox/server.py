"""The sandbox's HTTP server: the Kickscale contract over real sockets, with faults on demand.

Built on the standard library's threading HTTP server rather than an ASGI stack because the faults
need the raw socket: a reset must be a real TCP RST and a truncated body a real short read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import python_multipart

from kickscale_sync import settings as api
from kickscale_sync.sandbox.faults import FaultDice, Faults, malform
from kickscale_sync.sandbox.openapi import openapi_document
from kickscale_sync.sandbox.workspace import KINDS, Workspace

CONTROL_PREFIX = "/_sandbox"


class BadRequest(Exception):
    """A request the real API would refuse with 400 (or the given status)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        workspace: Workspace,
        *,
        api_key: str,
        client_id: str,
        faults: Faults | None = None,
        max_upload_bytes: int = api.UPLOAD_MAX_BYTES,
    ) -> None:
        super().__init__(address, _Handler)
        self.workspace = workspace
        self.api_key = api_key
        self.client_id = client_id
        self.max_upload_bytes = max_upload_bytes
        self.dice = FaultDice(faults or Faults())
        self.stats: Counter[str] = Counter()
        self.uploads: list[dict[str, Any]] = []
        self._stats_lock = threading.Lock()
        self._in_flight = 0
        self.peak_in_flight = 0  # API requests being answered at once, at most so far

    @property
    def faults(self) -> Faults:
        return self.dice.faults

    def set_faults(self, faults: Faults) -> None:
        self.dice = FaultDice(faults)

    def count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around one API request: keeps `peak_in_flight`, what a client's concurrency came to."""
        with self._stats_lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._stats_lock:
                self._in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    # Quiet: the sandbox is used by tests and benchmarks; the stats say what happened.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the socket was reset on purpose
            super().finish()

    # ------------------------------------------------------------------------- dispatch
    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        path = url.path.rstrip("/") or "/"
        try:
            if path.startswith(CONTROL_PREFIX):
                self._control(method, path, query)
            elif path == api.SWAGGER_PATH and method == "GET":
                self._send_json(200, openapi_document())
            else:
                with self.server.answering():
                    self._public(method, path, query)
        except BadRequest as error:
            self._send_json(error.status, {"statusCode": error.status, "message": str(error)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _public(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in KINDS or len(parts) > 2:
            self._drain_body()
            raise BadRequest(f"no route for {method} {path}", 404)
        self.server.count(f"{method} /{parts[0]}{'/{id}' if len(parts) == 2 else ''}")
        if not self._authorised():
            self._drain_body()
            self.server.count("status 403")
            raise BadRequest("Forbidden: missing or invalid api-key / client-id", 403)
        if self._inject_transport_fault():
            return
        if method == "GET" and len(parts) == 1:
            self._list(parts[0], query)
        elif method == "GET":
            self._get_one(parts[0], parts[1], query)
        elif method == "POST" and parts == ["calls"]:
            self._upload()
        else:
            self._drain_body()
            raise BadRequest(f"{method} is not allowed on {path}", 405)

    def _authorised(self) -> bool:
        return (
            self.headers.get(api.API_KEY_HEADER) == self.server.api_key
            and self.headers.get(api.CLIENT_ID_HEADER) == self.server.client_id
        )

    # --------------------------------------------------------------------------- faults
    def _inject_transport_fault(self) -> bool:
        """Apply the request-level faults; True when the request was answered by one."""
        dice = self.server.dice
        faults = dice.faults
        if dice.roll(faults.redirect_rate):
            self._drain_body()
            self.server.count("fault redirect")
            target = faults.redirect_to.rstrip("/") + self.path
            self._send_bytes(307, b"", extra_headers={"Location": target})
            return True
        delay = dice.latency_seconds()
        if delay > 0:
            time.sleep(delay)
        if dice.over_request_rate() or dice.roll(faults.rate_limit_rate):
            self._drain_body()
            self.server.count("fault 429")
            body = {"statusCode": 429, "message": "Too Many Requests"}
            self._send_json(429, body, extra_headers={"Retry-After": dice.retry_after_value()})
            return True
        outage = dice.in_outage()
        if outage or dice.roll(faults.error_rate):
            self._drain_body()
            status = 503 if outage else dice.choice((500, 502, 503))
            self.server.count(f"fault {status}")
            self._send_json(status, {"statusCode": status, "message": HTTPStatus(status).phrase})
            return True
        if dice.roll(faults.reset_rate):
            self.server.count("fault reset")
            self._reset_connection()
            return True
        return False

    def _reset_connection(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    # -------------------------------------------------------------------------- listing
    def _list(self, kind: str, query: dict[str, list[str]]) -> None:
        page = _int_param(query, api.PAGE_PARAM, api.FIRST_PAGE, minimum=0)
        size = _int_param(query, api.PAGE_SIZE_PARAM, api.DEFAULT_PAGE_SIZE, minimum=1)
        if size > api.MAX_PAGE_SIZE:
            raise BadRequest(f"pageSize must be at most {api.MAX_PAGE_SIZE}, got {size}")
        order = _one(query, api.SORTING_ORDER_PARAM) or api.DESCENDING
        if order not in api.SORTING_ORDERS:
            raise BadRequest(f"sortingOrder must be one of {', '.join(api.SORTING_ORDERS)}")
        start = _instant_param(query, api.START_DATE_PARAM)
        end = _instant_param(query, api.END_DATE_PARAM)
        with_user, with_transcript = _expand_param(query)
        scopes = _list_param(query, api.SCOPES_PARAM, api.SCOPES) or frozenset(api.DEFAULT_SCOPES)
        domain = (_one(query, api.CUSTOMER_DOMAIN_PARAM) or "").strip().lower() or None
        if not api.END_DATE_EXCLUSIVE and end is not None:
            end += 1
        indices = self.server.workspace.list_indices(
            kind,
            start=start,
            end=end,
            scopes=scopes,
            domain=domain,
            descending=order == api.DESCENDING,
        )
        chosen = indices[page * size : (page + 1) * size]
        records = [self._record(kind, i, with_user, with_transcript) for i in chosen]
        if self.server.faults.bare_array:
            self._send_json(200, records)
            return
        meta = {"total": len(indices), "returned": len(records), "page": page, "pageSize": size}
        self._send_json(200, {"data": records, "meta": meta})

    def _get_one(self, kind: str, record_id: str, query: dict[str, list[str]]) -> None:
        with_user, with_transcript = _expand_param(query)
        idx = self.server.workspace.find(kind, record_id)
        if idx is None:
            raise BadRequest(f"{kind[:-1]} {record_id} not found", 404)
        self._send_json(200, self._record(kind, idx, with_user, with_transcript))

    def _record(self, kind: str, idx: int, with_user: bool, with_transcript: bool) -> dict:
        record = self.server.workspace.render(
            kind, idx, with_user=with_user, with_transcript=with_transcript
        )
        how = self.server.dice.malformation(f"{kind}:{idx}")
        return malform(record, how) if how else record

    # -------------------------------------------------------------------------- uploads
    def _upload(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.max_upload_bytes + 64 * 1024:
            self._drain_body()
            raise BadRequest(
                f"file too large: the limit is {self.server.max_upload_bytes} bytes", 413
            )
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            self._drain_body()
            raise BadRequest(
                f"uploads must be multipart/form-data with the audio file in the '{api.UPLOAD_FILE_FIELD}' field"
            )
        form: dict[str, str] = {}
        files: list[dict[str, Any]] = []

        def on_field(f: Any) -> None:
            form[f.field_name.decode()] = (f.value or b"").decode()

        def on_file(f: Any) -> None:
            f.file_object.seek(0)
            digest, size = hashlib.sha256(), 0
            while chunk := f.file_object.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            files.append(
                {
                    "field": (f.field_name or b"").decode(),
                    "name": (f.file_name or b"").decode(),
                    "size": size,
                    "sha256": digest.hexdigest(),
                }
            )

        headers = {"Content-Type": content_type.encode(), "Content-Length": str(length).encode()}
        try:
            python_multipart.parse_form(headers, self.rfile, on_field, on_file)
        except Exception as error:  # the parser's errors are many and all mean a bad body
            raise BadRequest(f"unreadable multipart body: {error}") from error
        meta, owner = self._validate_upload(form, files)
        call_id = self.server.workspace.add_upload(meta, owner)
        self.server.uploads.append({**meta, "id": call_id, "file": files[0]})
        self.server.count("upload accepted")
        self._send_json(201, {"id": call_id, "status": "processing"})

    def _validate_upload(self, form: dict[str, str], files: list[dict]) -> tuple[dict, int]:
        audio = [f for f in files if f["field"] == api.UPLOAD_FILE_FIELD]
        if not audio or audio[0]["size"] == 0:
            raise BadRequest(
                f"a non-empty audio file is required in the '{api.UPLOAD_FILE_FIELD}' field"
            )
        if audio[0]["size"] > self.server.max_upload_bytes:
            raise BadRequest(
                f"file too large: the limit is {self.server.max_upload_bytes} bytes", 413
            )
        suffix = (
            "." + audio[0]["name"].rsplit(".", 1)[-1].lower() if "." in audio[0]["name"] else ""
        )
        if suffix not in api.UPLOAD_AUDIO_TYPES:
            raise BadRequest(f"unsupported audio type {suffix or '(none)'}")
        missing = [name for name in api.UPLOAD_REQUIRED_FIELDS if not form.get(name)]
        if missing:
            raise BadRequest(f"missing required field(s): {', '.join(missing)}")
        try:
            date = _parse_instant(form["date"])
        except ValueError as error:
            raise BadRequest(f"date is not an ISO-8601 instant: {form['date']!r}") from error
        if form["direction"] not in api.CALL_DIRECTIONS:
            raise BadRequest(f"direction must be one of {', '.join(api.CALL_DIRECTIONS)}")
        owner = self.server.workspace.user_index(form["userEmail"])
        if owner is None:
            raise BadRequest(f"userEmail {form['userEmail']!r} is not a user of this workspace")
        meta = {k: v for k, v in form.items() if k in api.UPLOAD_FIELDS and v}
        meta["date"] = date
        if "customerDomain" in meta:
            meta["customerDomain"] = meta["customerDomain"].lower()
        return meta, owner

    # -------------------------------------------------------------------------- control
    def _control(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        body = self._read_json_body() if method in ("POST", "PUT") else {}
        sandbox = self.server
        if path == f"{CONTROL_PREFIX}/advance" and method == "POST":
            seconds = int(
                body.get("days", 0) * 86_400 + body.get("hours", 0) * 3_600 + body.get("seconds", 0)
            )
            if seconds < 0:
                raise BadRequest("the clock only moves forward")
            sandbox.workspace.advance(seconds)
        elif path == f"{CONTROL_PREFIX}/faults" and method == "PUT":
            try:
                sandbox.set_faults(Faults.from_dict(body))
            except (TypeError, ValueError) as error:
                raise BadRequest(str(error)) from error
        elif path == f"{CONTROL_PREFIX}/uploads" and method == "GET":
            self._send_json(200, sandbox.uploads)
            return
        elif not (path == f"{CONTROL_PREFIX}/state" and method == "GET"):
            raise BadRequest(f"no control route for {method} {path}", 404)
        self._send_json(200, control_state(sandbox))

    def _read_json_body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as error:
            raise BadRequest(f"the control body must be JSON: {error}") from error
        if not isinstance(body, dict):
            raise BadRequest("the control body must be a JSON object")
        return body

    # ---------------------------------------------------------------------------- output
    def _send_json(
        self, status: int, body: Any, extra_headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(status, orjson.dumps(body), "application/json", extra_headers)

    def _send_bytes(
        self,
        status: int,
        payload: bytes,
        content_type: str = "application/json",
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        truncate = status == 200 and self.server.dice.roll(self.server.faults.truncate_rate)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.server.count("fault truncated")
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            # A clean close (FIN) after half the promised body: the client sees a short read.
            self.connection.shutdown(socket.SHUT_WR)
            self.close_connection = True
            return
        self.wfile.write(payload)

    def _drain_body(self) -> None:
        """Read and drop the request body so the connection stays usable."""
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)


def control_state(sandbox: SandboxServer) -> dict[str, Any]:
    workspace = sandbox.workspace
    return {
        "now": datetime.fromtimestamp(workspace.now, UTC).strftime(api.WIRE_DATETIME_FORMAT),
        "counts": workspace.counts(),
        "faults": sandbox.faults.to_dict(),
        "stats": dict(sandbox.stats),
        "peak_in_flight": sandbox.peak_in_flight,
        "uploads": len(sandbox.uploads),
    }


# ------------------------------------------------------------------------------ parameters
def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _int_param(query: dict[str, list[str]], name: str, default: int, minimum: int) -> int:
    raw = _one(query, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from error
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}, got {value}")
    return value


def _parse_instant(raw: str) -> int:
    moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _instant_param(query: dict[str, list[str]], name: str) -> int | None:
    raw = _one(query, name)
    if raw is None or raw == "":
        return None
    try:
        return _parse_instant(raw)
    except ValueError as error:
        raise BadRequest(
            f"{name} must be an ISO-8601 instant like 2026-03-01T00:00:00Z, got {raw!r}"
        ) from error


def _list_param(query: dict[str, list[str]], name: str, allowed: tuple[str, ...]) -> frozenset[str]:
    raw = _one(query, name)
    if not raw:
        return frozenset()
    values = frozenset(v.strip() for v in raw.split(",") if v.strip())
    unknown = values - set(allowed)
    if unknown:
        raise BadRequest(
            f"{name} accepts {', '.join(allowed)}; unknown: {', '.join(sorted(unknown))}"
        )
    return values


def _expand_param(query: dict[str, list[str]]) -> tuple[bool, bool]:
    expand = _list_param(query, api.EXPAND_PARAM, api.EXPAND_VALUES)
    return api.EXPAND_USER in expand, api.EXPAND_TRANSCRIPT in expand
