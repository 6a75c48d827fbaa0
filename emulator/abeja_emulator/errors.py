"""The emulator's error type: raised anywhere, rendered as the platform's JSON error body."""

from __future__ import annotations

from typing import Any

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_code(status: int) -> str:
    return _ERROR_CODES.get(status, "error")


class ApiError(Exception):
    """An HTTP error answer: `{"error": ..., "error_description": ...}`."""

    def __init__(self, status: int, description: str, error: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.error = error or error_code(status)
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


def bad_request(description: str) -> ApiError:
    return ApiError(400, description)


def not_found(description: str) -> ApiError:
    return ApiError(404, description)


def in_use(what: str, users: list[str], kind: str, remedy: str = "delete them first") -> ApiError:
    """409: the platform keeps what is in use (a version a service runs, ...)."""
    return ApiError(409, f"{what} is used by {kind}(s) {', '.join(users)}; {remedy}", "conflict")
