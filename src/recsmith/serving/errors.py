"""Errors the service turns into HTTP answers with a JSON body ``{"error": {code, message, details}}``."""

from __future__ import annotations

from typing import Any

from recsmith.errors import RecsmithError


class ApiError(RecsmithError):
    """An error with an HTTP status. Subclasses fix the status and the machine-readable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class MalformedBody(ApiError):
    """The request body is not JSON the service can read (syntax, encoding, nesting)."""

    status_code = 400
    code = "invalid_json"


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidRequest(ApiError):
    status_code = 422
    code = "invalid_request"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"


class NotSupportedByModel(ApiError):
    """The served model cannot answer this kind of request (no text encoder, no item similarity).

    409, not 501: nothing is wrong with the server, and the answer changes when the operator
    reloads a bundle whose model can."""

    status_code = 409
    code = "not_supported"


class NotReady(ApiError):
    status_code = 503
    code = "not_ready"
