"""Domain errors. Each carries an HTTP status and a short code; apps render them as problem details.

ServiceError
 ├── BadRequest (400)          ├── NotFound (404)
 ├── Unauthorized (401)        ├── Conflict (409) ── IndexEmpty (409)
 ├── Forbidden (403)           ├── Busy (503, Retry-After)
 ├── Unprocessable (422)       └── NotReady (503)
 │    └── InvalidName (422)
 ├── PayloadTooLarge (413)
 ├── TooManyRequests (429)
 └── UpstreamError (502)
"""

from __future__ import annotations


class ServiceError(Exception):
    status, code = 500, "internal"

    def __init__(self, detail: str = "", retry_after: int | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code
        self.retry_after = retry_after


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class IndexEmpty(Conflict):
    status, code = 409, "index_empty"


class Unprocessable(ServiceError):
    status, code = 422, "invalid_request"


class InvalidName(Unprocessable):
    code = "invalid_name"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class TooManyRequests(ServiceError):
    status, code = 429, "too_many_requests"


class UpstreamError(ServiceError):
    status, code = 502, "upstream_error"


class Busy(ServiceError):
    status, code = 503, "busy"


class NotReady(ServiceError):
    status, code = 503, "not_ready"


BY_CODE: dict[str, type[ServiceError]] = {
    cls.code: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, IndexEmpty, Unprocessable,
                InvalidName,
                PayloadTooLarge, TooManyRequests, UpstreamError, Busy, NotReady)
}


def problem(status: int, title: str, detail: str, code: str | None = None) -> dict[str, object]:
    """An RFC 9457 problem document."""
    return {"type": f"urn:mde:{code or title.lower().replace(' ', '_')}", "title": title,
            "status": status, "detail": detail}
