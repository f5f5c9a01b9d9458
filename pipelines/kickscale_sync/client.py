"""A small, typed client for the Kickscale API on httpx.

Pooled connections and timeouts; retries (tenacity) on 429, 5xx, resets and truncated bodies,
honouring `Retry-After`; a client-side request rate cap; credentials that never reach a log, an
error message or a redirect target.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from kickscale_sync import settings as api

CREDENTIAL_SETTINGS = (
    "SOURCES__KICKSCALE__API_KEY and SOURCES__KICKSCALE__CLIENT_ID "
    "(or api_key / client_id under [sources.kickscale] in .dlt/secrets.toml)"
)


T = TypeVar("T")


class KickscaleError(Exception):
    """A failure that retrying will not fix; the message says what to change."""


class AuthError(KickscaleError):
    pass


class RedirectRefused(KickscaleError):
    pass


class KickscaleUnavailable(KickscaleError):
    """Transient failures outlasted the retries: a later run may well succeed."""


class RetryableError(Exception):
    """A transient failure: 429, 5xx, a reset or a truncated body."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)
    client_id: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(api_key=***, client_id=***)"

    def check(self) -> None:
        missing = [
            name
            for name, value in (("api_key", self.api_key), ("client_id", self.client_id))
            if not value
        ]
        if missing:
            raise AuthError(
                f"Kickscale credentials missing ({', '.join(missing)}): set {CREDENTIAL_SETTINGS}"
            )


class _HeaderAuth(httpx.Auth):
    """Adds both credential headers per request, so they live in no client-wide header map."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers[api.API_KEY_HEADER] = self._credentials.api_key
        request.headers[api.CLIENT_ID_HEADER] = self._credentials.client_id
        yield request


class RateLimiter:
    """Spaces requests at least 1/rate seconds apart across threads (0 or less: no cap)."""

    def __init__(self, requests_per_second: float) -> None:
        self._interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    pages: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int | None = None, retry: bool = False, page: bool = False) -> None:
        with self.lock:
            if status is not None:
                self.requests += 1
                self.statuses[status] += 1
            self.retries += int(retry)
            self.pages += int(page)


@dataclass(frozen=True)
class ClientConfig:
    base_url: str = api.DEFAULT_BASE_URL
    timeout_seconds: float = 30.0
    max_attempts: int = 8
    backoff_seconds: float = 0.5  # first retry waits up to this, doubling each time
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0
    requests_per_second: float = 0.0
    max_connections: int = 8


class KickscaleClient:
    """Thread-safe: one instance serves every concurrent window of a sync."""

    def __init__(self, credentials: Credentials, config: ClientConfig | None = None) -> None:
        credentials.check()
        self.config = config or ClientConfig()
        self.stats = ClientStats()
        self._limiter = RateLimiter(self.config.requests_per_second)
        limits = httpx.Limits(
            max_connections=self.config.max_connections,
            max_keepalive_connections=self.config.max_connections,
        )
        self._http = httpx.Client(
            base_url=self.config.base_url.rstrip("/"),
            auth=_HeaderAuth(credentials),
            # More threads than connections may share the client (`source.reader_threads`): one
            # waits for a free connection as long as it takes, each request in flight is timed.
            timeout=httpx.Timeout(self.config.timeout_seconds, connect=10.0, pool=None),
            limits=limits,
            follow_redirects=False,  # a redirect must never carry the credentials elsewhere
            headers={"accept": "application/json", "user-agent": "kickscale-sync"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KickscaleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ reads
    def list_page(self, endpoint: str, params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """One page: its records and its meta (empty when the server sent a bare array)."""
        return self.fetch_page(
            endpoint, params, lambda body: split_page(orjson.loads(body), endpoint)
        )

    def fetch_page(self, endpoint: str, params: dict[str, Any], parse: Callable[[bytes], T]) -> T:
        """One listing page, its raw body handed to `parse` (a ValueError there is retried)."""
        try:
            return self.get_json(f"/{endpoint}", params, parse)
        except NotFound:
            raise KickscaleError(
                f"GET /{endpoint} answered 404: {self.config.base_url} does not look like the "
                "Kickscale API; check base_url (SOURCES__KICKSCALE__BASE_URL or the profile)"
            ) from None

    def get_by_id(self, endpoint: str, record_id: str, expand: tuple[str, ...] = ()) -> dict | None:
        params = {api.EXPAND_PARAM: ",".join(expand)} if expand else {}
        try:
            return self.get_json(api.by_id_path(endpoint, record_id), params)
        except NotFound:
            return None

    def check_credentials(self) -> None:
        """The cheapest read-only request; raises AuthError with advice when refused."""
        self.get_json("/meetings", {api.PAGE_PARAM: 0, api.PAGE_SIZE_PARAM: 1})

    def get_json(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        parse: Callable[[bytes], Any] = orjson.loads,
    ) -> Any:
        return self._retrying(lambda: self._get_json_once(path, params or {}, parse))

    def upload_call(self, audio: Path, fields: dict[str, str], content_type: str) -> str:
        """POST one recording (streamed from disk, reopened per attempt); the new call's id."""

        def attempt() -> str:
            with audio.open("rb") as stream:
                response = self._send_once(
                    "POST",
                    api.UPLOAD_PATH,
                    data=fields,
                    files={api.UPLOAD_FILE_FIELD: (audio.name, stream, content_type)},
                )
            if response.status_code not in api.UPLOAD_SUCCESS_STATUSES:
                raise KickscaleError(
                    f"upload answered HTTP {response.status_code}: {_server_message(response)}"
                )
            body = response.json()
            if not isinstance(body, dict) or not body.get("id"):
                raise KickscaleError(f"upload answered without a call id: {str(body)[:200]}")
            return str(body["id"])

        return self._retrying(attempt)

    # ---------------------------------------------------------------------------- helpers
    def _retrying(self, attempt: Any) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_after_attempt(self.config.max_attempts),
            wait=self._wait,
            before_sleep=lambda _: self.stats.record(retry=True),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except RetryableError as error:
            raise KickscaleUnavailable(
                f"Kickscale kept failing after {self.config.max_attempts} attempts: {error} "
                f"(is base_url {self.config.base_url} right and reachable?)"
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return min(error.retry_after, self.config.max_retry_after_seconds)
        backoff = wait_random_exponential(
            multiplier=self.config.backoff_seconds, max=self.config.max_backoff_seconds
        )
        return backoff(state)

    def _get_json_once(
        self, path: str, params: dict[str, Any], parse: Callable[[bytes], Any]
    ) -> Any:
        response = self._send_once("GET", path, params=params)
        try:
            return parse(response.content)
        except ValueError as error:  # orjson's JSONDecodeError is one too
            # A 200 with a body that is not JSON is a cut-short or garbled answer: try again.
            raise RetryableError(f"GET {path} answered invalid JSON ({error})") from None

    def _send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._limiter.acquire()
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.TransportError, httpx.DecodingError) as error:
            self.stats.record(status=0)
            raise RetryableError(f"{method} {path}: {type(error).__name__}: {error}") from None
        self.stats.record(status=response.status_code)
        _raise_for_status(method, path, response)
        return response


class NotFound(KickscaleError):
    pass


def split_page(body: Any, endpoint: str) -> tuple[list[Any], dict[str, Any]]:
    """A listing body's records and meta (empty meta when the server sent a bare array)."""
    if isinstance(body, list):
        return body, {}
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return body["data"], body.get("meta") or {}
    raise KickscaleError(f"GET /{endpoint} answered an unexpected shape: {type(body).__name__}")


def _raise_for_status(method: str, path: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    if status in api.AUTH_FAILURE_STATUSES:
        raise AuthError(
            f"Kickscale refused the credentials (HTTP {status}) on {method} {path}: check "
            f"{CREDENTIAL_SETTINGS}; keys expire one year after they were created."
        )
    if 300 <= status < 400:
        target = httpx.URL(response.headers.get("location", "")).copy_with(query=None)
        raise RedirectRefused(
            f"Kickscale answered {method} {path} with a redirect (HTTP {status}) to {target}; "
            "not followed, so the credentials stay with the configured host: check base_url."
        )
    if status == 429:
        raise RetryableError(
            f"{method} {path}: HTTP 429", parse_retry_after(response.headers.get("retry-after"))
        )
    if status >= 500:
        raise RetryableError(f"{method} {path}: HTTP {status}")
    if status == 404:
        raise NotFound(f"{method} {path}: not found")
    raise KickscaleError(
        f"Kickscale refused {method} {path} (HTTP {status}): {_server_message(response)}"
    )


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)[:200]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: it may be a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment: datetime = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = time.time() if now is None else now
    return max(0.0, moment.timestamp() - reference)
