"""The one place where errors become wire errors (REST bodies and Socket.IO acks)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pymongo.errors
import redis.exceptions
from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import HTTP_STATUS, AppError, BadRequest, ErrorCode, Internal, Unavailable

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def _field(loc: tuple[int | str, ...], prefix: str = "") -> str:
    return ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc) or "payload"


def bad_request_from(exc: ValidationError, prefix: str = "") -> BadRequest:
    """`prefix` names where the payload sat in a larger one (`meeting` in a booking)."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    fields = [{"field": _field(e["loc"], prefix), "problem": e["msg"]} for e in errors]
    return BadRequest(f"{fields[0]['field']}: {errors[0]['msg']}", {"fields": fields})


def parse(model: type[M], data: Any, prefix: str = "") -> M:
    """Validate a payload; a bad one becomes `bad_request` naming the field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest(f"{prefix or 'payload'} must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise bad_request_from(exc, prefix) from exc


def error_body(error: AppError) -> dict[str, Any]:
    return {"error": error.to_wire()}


# A backend that is down or too busy to answer in time: the request may simply be retried.
_BACKEND_BUSY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                 pymongo.errors.ConnectionFailure)


def backend_unavailable(exc: BaseException) -> Unavailable | None:
    if isinstance(exc, _BACKEND_BUSY):
        return Unavailable("a backend is unavailable or overloaded; retry shortly")
    return None


def ack_error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, AppError):
        return {"ok": False, "error": exc.to_wire()}
    busy = backend_unavailable(exc)
    if busy is not None:
        return {"ok": False, "error": busy.to_wire()}
    return {"ok": False, "error": Internal("internal error").to_wire()}


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status,
                        content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AppError as exc:
        return json_response(error_body(exc), HTTP_STATUS[exc.code])
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.BAD_REQUEST,
                413: ErrorCode.TOO_LARGE}.get(exc.status, ErrorCode.BAD_REQUEST)
        return json_response({"error": {"code": str(code), "message": exc.reason}}, exc.status)
    except Exception as exc:
        busy = backend_unavailable(exc)
        if busy is not None:
            log.warning("%s %s: %s", request.method, request.path, exc)
            return json_response(error_body(busy), HTTP_STATUS[busy.code])
        log.exception("unexpected error on %s %s", request.method, request.path)
        return json_response(error_body(Internal("internal error")), 500)
