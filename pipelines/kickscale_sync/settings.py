"""The Kickscale API contract, in one place.

Everything the public material does not document is marked ASSUMED here. A user who checks the
live `/swagger` document can correct any of them in one edit; the client and the sandbox both
read them from this module.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.kickscale.com"

# Authentication: both headers on every request; 403 (or 401) when either is wrong or missing.
API_KEY_HEADER = "api-key"
CLIENT_ID_HEADER = "client-id"
AUTH_FAILURE_STATUSES = frozenset({401, 403})

# Endpoints: the resource name is also the path (`GET /meetings`, `GET /calls`).
ENDPOINTS = ("meetings", "calls")
SWAGGER_PATH = "/swagger"


def by_id_path(endpoint: str, record_id: str) -> str:
    """ASSUMED: GET by id is `/{endpoint}/{id}`, answering 404 when absent."""
    return f"/{endpoint}/{record_id}"


# Listing parameters.
PAGE_PARAM = "page"  # 0-based
PAGE_SIZE_PARAM = "pageSize"
SORTING_ORDER_PARAM = "sortingOrder"
START_DATE_PARAM = "startDate"
END_DATE_PARAM = "endDate"
EXPAND_PARAM = "expand"
SCOPES_PARAM = "scopes"
CUSTOMER_DOMAIN_PARAM = "customerDomain"  # ASSUMED name of the customer domain filter

FIRST_PAGE = 0
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
ASCENDING = "ascending"
DESCENDING = "descending"
SORTING_ORDERS = (ASCENDING, DESCENDING)

# ASSUMED: `endDate` is exclusive, so adjacent windows [start, end) neither overlap nor leave gaps.
END_DATE_EXCLUSIVE = True

EXPAND_USER = "user_client_augmentation"
EXPAND_TRANSCRIPT = "meeting_transcript"
EXPAND_VALUES = (EXPAND_USER, EXPAND_TRANSCRIPT)

SCOPE_INTERNAL = "internal"
SCOPE_EXTERNAL = "external"
SCOPES = (SCOPE_INTERNAL, SCOPE_EXTERNAL)
DEFAULT_SCOPES = (SCOPE_EXTERNAL,)  # the server's default: internal conversations vanish

# Instants on the wire: `YYYY-MM-DDTHH:MM:SSZ`.
WIRE_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# The record field the date filter applies to, and the one that moves on late edits.
DATE_FIELD = "date"
UPDATED_FIELD = "updatedAt"

# `recordingRef` is a download URL valid for two days: volatile, never part of change detection.
VOLATILE_FIELDS = ("recordingRef",)

# ASSUMED upload shape: `POST /calls` as multipart/form-data, answering 201 or 202 with the id.
UPLOAD_PATH = "/calls"
UPLOAD_FILE_FIELD = "file"
UPLOAD_FIELDS = (
    "date",
    "direction",
    "callerName",
    "callerPhoneNumber",
    "calleeName",
    "calleePhoneNumber",
    "externalCallId",
    "userEmail",
    "customerDomain",
)
UPLOAD_REQUIRED_FIELDS = ("date", "direction", "externalCallId", "userEmail")
UPLOAD_SUCCESS_STATUSES = frozenset({201, 202})
CALL_DIRECTIONS = ("inbound", "outbound")
UPLOAD_AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".ogg": "audio/ogg",
    ".webm": "audio/webm",
    ".flac": "audio/flac",
}
UPLOAD_MAX_BYTES = 500 * 1024 * 1024  # ASSUMED limit; the server answers 413 above it

# Webhooks (documented): hex HMAC-SHA256 keyed with the hex-decoded secret over timestamp + body.
WEBHOOK_SIGNATURE_HEADER = "kickscale-signature-hash"
WEBHOOK_TIMESTAMP_HEADER = "kickscale-signature-timestamp"
