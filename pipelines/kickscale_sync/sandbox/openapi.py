"""The OpenAPI document the sandbox serves at `/swagger`, as the real service does."""

from __future__ import annotations

from functools import cache

from kickscale_sync import settings as api


def _listing_parameters() -> list[dict]:
    def param(name: str, schema: dict, description: str) -> dict:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": description,
        }

    instant = {"type": "string", "format": "date-time", "example": "2026-03-01T00:00:00Z"}
    return [
        param(
            api.PAGE_PARAM, {"type": "integer", "minimum": 0, "default": 0}, "0-based page index"
        ),
        param(
            api.PAGE_SIZE_PARAM,
            {
                "type": "integer",
                "minimum": 1,
                "maximum": api.MAX_PAGE_SIZE,
                "default": api.DEFAULT_PAGE_SIZE,
            },
            "records per page",
        ),
        param(
            api.SORTING_ORDER_PARAM, {"type": "string", "enum": list(api.SORTING_ORDERS)}, "by date"
        ),
        param(api.START_DATE_PARAM, instant, "rows with date on or after this instant"),
        param(api.END_DATE_PARAM, instant, "rows with date before this instant"),
        param(
            api.EXPAND_PARAM, {"type": "string"}, f"comma list of {', '.join(api.EXPAND_VALUES)}"
        ),
        param(
            api.SCOPES_PARAM,
            {"type": "string"},
            "comma list of internal, external (default external)",
        ),
        param(
            api.CUSTOMER_DOMAIN_PARAM,
            {"type": "string"},
            "only conversations with this customer domain",
        ),
    ]


def _envelope(ref: str) -> dict:
    return {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": {"$ref": ref}},
            "meta": {
                "type": "object",
                "properties": {
                    k: {"type": "integer"} for k in ("total", "returned", "page", "pageSize")
                },
            },
        },
    }


_SHARED_FIELDS = {
    "id": {"type": "string"},
    "createdAt": {"type": "string", "format": "date-time"},
    "updatedAt": {"type": "string", "format": "date-time"},
    "clientId": {"type": "string"},
    "name": {"type": "string"},
    "date": {"type": "string", "format": "date-time"},
    "duration": {"type": "integer", "description": "seconds"},
    "language": {"type": "string"},
    "summary": {"type": "string"},
    "actionItems": {"type": "array", "items": {"type": "object"}},
    "emailDraft": {"type": "string"},
    "insights": {"type": "array", "items": {"type": "object"}},
    "userQuestions": {"type": "array", "items": {"type": "string"}},
    "participants": {"type": "array", "items": {"type": "object"}},
    "metrics": {"type": "object"},
    "feedback": {"type": "array", "items": {"type": "object"}},
    "type": {"type": "object"},
    "outcome": {"type": "string", "nullable": True},
    "comments": {"type": "array", "items": {"type": "object"}},
    "rating": {"type": "number", "nullable": True},
    "user": {"type": "object", "description": f"only with expand={api.EXPAND_USER}"},
    "recordingRef": {"type": "string", "description": "download URL, valid for two days"},
    "transcript": {
        "type": "array",
        "items": {"type": "object"},
        "description": f"only with expand={api.EXPAND_TRANSCRIPT}",
    },
    "crmReference": {"type": "object", "nullable": True},
    "customerDomains": {"type": "array", "items": {"type": "string"}},
    "businessEntities": {"type": "array", "items": {"type": "object"}},
    "recordingConsent": {"type": "string", "enum": ["granted", "denied", "unknown"]},
}


@cache
def openapi_document() -> dict:
    security = [{"apiKey": [], "clientId": []}]
    listing = _listing_parameters()
    by_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Kickscale API (sandbox)", "version": "1.0"},
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": api.API_KEY_HEADER},
                "clientId": {"type": "apiKey", "in": "header", "name": api.CLIENT_ID_HEADER},
            },
            "schemas": {
                "MeetingDTO": {
                    "type": "object",
                    "properties": {
                        **_SHARED_FIELDS,
                        "participantEmails": {"type": "array", "items": {"type": "string"}},
                        "metadata": {"type": "object"},
                    },
                },
                "CallDTO": {
                    "type": "object",
                    "properties": {
                        **_SHARED_FIELDS,
                        "caller": {"type": "object"},
                        "callee": {"type": "object"},
                        "direction": {"type": "string", "enum": list(api.CALL_DIRECTIONS)},
                        "externalCallId": {"type": "string"},
                    },
                },
            },
        },
        "security": security,
        "paths": {
            "/meetings": {
                "get": _op("List meetings", listing, _envelope("#/components/schemas/MeetingDTO"))
            },
            "/meetings/{id}": {
                "get": _op("Get a meeting", by_id, {"$ref": "#/components/schemas/MeetingDTO"})
            },
            "/calls": {
                "get": _op("List calls", listing, _envelope("#/components/schemas/CallDTO")),
                "post": {
                    "summary": "Upload a call for analysis (multipart/form-data)",
                    "requestBody": {
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": [
                                        api.UPLOAD_FILE_FIELD,
                                        *api.UPLOAD_REQUIRED_FIELDS,
                                    ],
                                    "properties": {
                                        api.UPLOAD_FILE_FIELD: {
                                            "type": "string",
                                            "format": "binary",
                                        },
                                        **{name: {"type": "string"} for name in api.UPLOAD_FIELDS},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "201": {"description": "accepted for analysis; body has the new call's id"},
                        "400": {"description": "invalid upload"},
                        "413": {"description": "file too large"},
                    },
                },
            },
            "/calls/{id}": {
                "get": _op("Get a call", by_id, {"$ref": "#/components/schemas/CallDTO"})
            },
        },
    }


def _op(summary: str, parameters: list[dict], schema: dict) -> dict:
    return {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "400": {"description": "invalid parameter"},
            "403": {"description": "missing or invalid api-key / client-id"},
            "404": {"description": "not found"},
            "429": {"description": "rate limited; see Retry-After"},
        },
    }
