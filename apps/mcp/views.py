"""`/mcp/`: the Model Context Protocol over Streamable HTTP (revision 2025-11-25, earlier ones negotiated), served
statelessly: each POST carries one JSON-RPC message and a request is answered with one JSON response
(`Content-Type: application/json`, which the transport allows instead of an SSE stream); notifications and
responses are accepted with 202. No session id is issued and GET answers 405: the server never opens a stream of
its own. Messages are validated with the `mcp` package's types.

Checks, in order: the method (POST), the Origin header (a browser page of another origin answers 403, against DNS
rebinding), the caller (401 with `WWW-Authenticate: Bearer resource_metadata=...`), `MCP-Protocol-Version`
(an unsupported one answers 400), Content-Type and Accept, then the tenant's API request quotas (429 with
Retry-After). The body cap is the project's (bizosaas.body_limit, before anything reads it).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection as db
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from mcp import types
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import ValidationError as PydanticError

from apps.accounts import quotas
from apps.mcp.auth import McpPrincipal, mcp_principal, unauthorized
from apps.mcp.tools import Denied, call_tool, tools_for

logger = logging.getLogger(__name__)

SERVER_NAME = "bizosaas"
SERVER_VERSION = "1.0"
DEFAULT_PROTOCOL_VERSION = "2025-03-26"  # what a request without MCP-Protocol-Version is taken to speak (the spec)
INSTRUCTIONS = (
    "Tools of one BizOSaaS workspace: reads and actions of its connected platforms (named "
    "<connection>__<resource or action>), knowledge search, agents and workflows, as the key or sign-in allows."
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _allowed_origins() -> set[str]:
    urls = [settings.GATEWAY_URL, settings.PORTAL_URL, *settings.MCP_ALLOWED_ORIGINS]
    return {origin for origin in map(_origin, urls) if origin}


def _error(code: int, message: str, *, status: int, request_id=None, headers: dict | None = None) -> JsonResponse:
    # JSONRPCError's id may not be null, which JSON-RPC requires when the request's id is unknown
    error = types.ErrorData(code=code, message=message).model_dump(mode="json", exclude_none=True)
    response = JsonResponse({"jsonrpc": "2.0", "id": request_id, "error": error}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _accepts_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    if not accept:
        return True
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(kinds & {"application/json", "application/*", "*/*"})


def _count_request(principal: McpPrincipal) -> None:
    """The tenant's API requests per minute, and the key's, as every API request counts them."""
    quotas.consume(principal.tenant, "api_requests_per_minute")
    if principal.api_key is not None:
        quotas.consume(principal.tenant, "api_key_requests_per_minute", subject=str(principal.api_key.pk))


@csrf_exempt
def mcp_endpoint(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = _error(types.INVALID_REQUEST, "Method not allowed: POST JSON-RPC messages here.", status=405)
        response["Allow"] = "POST"
        return response
    origin = request.META.get("HTTP_ORIGIN")
    if origin and _origin(origin) not in _allowed_origins():
        return _error(types.INVALID_REQUEST, "Origin not allowed.", status=403)
    principal = mcp_principal(request)
    if principal is None:
        return unauthorized(request, "A valid API key with the 'mcp' scope, or an access token, is required.")
    version = request.META.get("HTTP_MCP_PROTOCOL_VERSION")
    if version and version not in SUPPORTED_PROTOCOL_VERSIONS:
        supported = ", ".join(SUPPORTED_PROTOCOL_VERSIONS)
        return _error(types.INVALID_REQUEST, f"Unsupported MCP-Protocol-Version {version!r}: {supported}.", status=400)
    if request.content_type != "application/json":
        return _error(types.INVALID_REQUEST, "Content-Type must be application/json.", status=415)
    if not _accepts_json(request):
        return _error(types.INVALID_REQUEST, "Accept must include application/json.", status=406)
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return _error(types.PARSE_ERROR, "Parse error: the body is not JSON.", status=400)
    if isinstance(body, list):
        return _error(types.INVALID_REQUEST, "Batches are not supported: send one message per request.", status=400)
    try:
        message = types.JSONRPCMessage.model_validate(body).root
    except PydanticError:
        return _error(types.INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message.", status=400)
    db.set_tenant(principal.tenant)  # type: ignore[attr-defined]  # an OAuth principal's tenant is not the one the middleware resolved
    try:
        _count_request(principal)
    except quotas.QuotaExceeded as exc:
        request_id = getattr(message, "id", None)
        return _error(-32000, exc.detail, status=429, request_id=request_id, headers=exc.headers())
    if not isinstance(message, types.JSONRPCRequest):
        return HttpResponse(status=202)  # notifications (initialized, cancelled) and responses: nothing to answer
    return _answer(request, principal, message)


_REQUESTS: dict[str, type[types.Request]] = {
    "initialize": types.InitializeRequest,
    "ping": types.PingRequest,
    "tools/list": types.ListToolsRequest,
    "tools/call": types.CallToolRequest,
}


def _answer(request: HttpRequest, principal: McpPrincipal, message: types.JSONRPCRequest) -> JsonResponse:
    kind = _REQUESTS.get(message.method)
    if kind is None:  # resources, prompts, completions...: capabilities this server does not declare
        return _error(types.METHOD_NOT_FOUND, f"Method not found: {message.method}", status=200, request_id=message.id)
    try:
        parsed = kind.model_validate(
            {"method": message.method, **({"params": message.params} if message.params is not None else {})}
        )
    except PydanticError as exc:
        return _error(types.INVALID_PARAMS, f"Invalid params: {_pydantic_text(exc)}", status=200, request_id=message.id)
    try:
        result = _dispatch(principal, parsed)
    except Denied as exc:
        return _error(-32001, str(exc), status=200, request_id=message.id)
    except Exception:
        logger.exception("MCP request failed", extra={"method": message.method})
        return _error(types.INTERNAL_ERROR, "Internal error.", status=500, request_id=message.id)
    response = types.JSONRPCResponse(
        jsonrpc="2.0", id=message.id, result=result.model_dump(by_alias=True, mode="json", exclude_none=True)
    )
    return JsonResponse(response.model_dump(by_alias=True, mode="json", exclude_none=True))


def _pydantic_text(exc: PydanticError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc'] if p not in ('params',)) or 'params'}: {error['msg']}"
        for error in exc.errors()[:5]
    )


def _dispatch(principal: McpPrincipal, request) -> types.Result:
    if isinstance(request, types.InitializeRequest):
        asked = request.params.protocolVersion
        version = asked if asked in SUPPORTED_PROTOCOL_VERSIONS else types.LATEST_PROTOCOL_VERSION
        return types.InitializeResult(
            protocolVersion=version,
            capabilities=types.ServerCapabilities(tools=types.ToolsCapability(listChanged=False)),
            serverInfo=types.Implementation(name=SERVER_NAME, title="BizOSaaS", version=SERVER_VERSION),
            instructions=INSTRUCTIONS,
        )
    if isinstance(request, types.PingRequest):
        return types.EmptyResult()
    if isinstance(request, types.ListToolsRequest):
        return types.ListToolsResult(tools=[tool.as_type() for tool in tools_for(principal).values()])
    return call_tool(principal, request.params.name, request.params.arguments)
