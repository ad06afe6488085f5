"""The OAuth endpoints MCP clients talk to (public domain), and the sign-in and consent pages people see.

The consent page needs a person signed in on the gateway itself (the portal's tokens live in the portal's cookies,
out of the gateway's reach): a Django session, opened by the sign-in page here, throttled like the console's.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from django.contrib.admin import site as admin_site
from django.contrib.auth import logout
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.throttles import OAuthRegisterThrottle, admin_login_throttled
from apps.oauth import server as oauth
from apps.oauth import services

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
)


def _json(body: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Access-Control-Allow-Origin"] = "*"  # browser-based MCP clients read the metadata cross-origin
    return response


def _oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def protected_resource_metadata(request):
    return _json(oauth.protected_resource_metadata())


@require_GET
def authorization_server_metadata(request):
    return _json(oauth.metadata())


def _page_context(request, **extra) -> dict:
    return {
        **admin_site.each_context(request),
        "site_header": "BizOSaaS",
        "site_title": "BizOSaaS",
        "has_permission": False,
        **extra,
    }


def _authorize_error(request, error: OAuth2Error):
    if error.redirect_uri:  # the client and its redirect URI are known: the client hears it (RFC 6749 §4.1.2.1)
        return oauth.server.handle_error_response(request, error)
    context = _page_context(
        request, page_title="Connection refused", error=error.error, description=error.description or ""
    )
    return render(request, "oauth/error.html", context, status=400)


def _params(request) -> list[tuple[str, str]]:
    source = request.POST if request.method == "POST" else request.GET
    return [(name, source[name]) for name in AUTHORIZE_PARAMS if name in source]


def _consent_page(request, grant, *, error: str = "", status: int = 200):
    client = grant.request.client
    redirect = urlsplit(grant.redirect_uri or "")
    authorize_url = f"{reverse('oauth-authorize')}?{urlencode(_params(request))}"
    context = _page_context(
        request,
        page_title="Connect an application",
        client=client,
        tenants=services.connectable_tenants(user=request.user),
        params=_params(request),
        redirect_host=f"{redirect.scheme}://{redirect.netloc}",
        error=error,
        switch_url=f"{reverse('oauth-login')}?{urlencode({'next': authorize_url, 'switch': '1'})}",
        user=request.user,
    )
    return render(request, "oauth/authorize.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request):
    """GET: the consent page (after sign-in). POST: the person's decision, with the tenant they chose."""
    user = request.user if request.user.is_authenticated else None
    try:
        grant = oauth.server.get_consent_grant(request, end_user=user)
    except OAuth2Error as error:
        return _authorize_error(request, error)
    if user is None:
        next_url = f"{reverse('oauth-authorize')}?{urlencode(_params(request))}"
        return HttpResponseRedirect(f"{reverse('oauth-login')}?{urlencode({'next': next_url})}")
    if request.method == "GET":
        return _consent_page(request, grant)
    if request.POST.get("decision", "").lower() != "allow":
        return oauth.server.create_authorization_response(grant.request, grant_user=None, grant=grant)
    slug = request.POST.get("tenant", "")
    tenant = next((t for t in services.connectable_tenants(user=user) if t.slug == slug), None)
    if tenant is None:
        return _consent_page(request, grant, error="Choose one of your workspaces to connect.", status=400)
    grant.request.bzs_tenant = tenant
    with transaction.atomic():
        return oauth.server.create_authorization_response(grant.request, grant_user=user, grant=grant)


class OAuthLoginView(LoginView):
    template_name = "oauth/login.html"
    redirect_authenticated_user = False

    def get(self, request, *args, **kwargs):
        if request.GET.get("switch") == "1" and request.user.is_authenticated:
            logout(request)  # "Not you?": the next sign-in is someone else's
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        next_url = self.get_redirect_url()
        client_name = ""
        if next_url:
            client_id = parse_qs(urlsplit(next_url).query).get("client_id", [""])[0]
            client = oauth.server.query_client(client_id) if client_id else None
            client_name = client.client_name if client else ""
        return {**_page_context(self.request, page_title="Sign in"), **context, "client_name": client_name}

    def get_default_redirect_url(self):
        return reverse("oauth-signed-in")


def signed_in(request):
    return render(request, "oauth/signed_in.html", _page_context(request, page_title="Signed in"))


login = never_cache(admin_login_throttled(OAuthLoginView.as_view()))


@csrf_exempt
@require_POST
def register(request):
    """Dynamic client registration (RFC 7591), open and throttled per address."""
    throttle = OAuthRegisterThrottle()
    if not throttle.allow_request(request, None):  # type: ignore[arg-type]
        response = _oauth_error("slow_down", "Too many client registrations from this address.", status=429)
        wait = throttle.wait()
        if wait is not None:
            response["Retry-After"] = str(max(1, int(wait)))
        return response
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _oauth_error("invalid_client_metadata", "The body must be JSON client metadata.")
    if not isinstance(body, dict) or not body:
        return _oauth_error("invalid_client_metadata", "The body must be a JSON object of client metadata.")
    with transaction.atomic():
        return oauth.server.create_endpoint_response("client_registration", request)


@csrf_exempt
@require_POST
def token(request):
    """The token endpoint: authorization_code (with the PKCE verifier) and refresh_token (rotated)."""
    with transaction.atomic():
        return oauth.server.create_token_response(request)


@csrf_exempt
@require_POST
def revoke(request):
    """Token revocation (RFC 7009)."""
    with transaction.atomic():
        return oauth.server.create_endpoint_response("revocation", request)
