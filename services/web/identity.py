"""Who is calling the web dashboard: the user whose layouts it reads and writes, and the tenant
whose campaigns it shows. Never taken from the page's own parameters, unless a development
setting allows it.

- `none`: no identity; every visitor is the one shared user DEFAULT_USER of CR_WEB_TENANT (with
  CR_WEB_ALLOW_USER_PARAMETER, `?user=` names the user: for development only).
- `header`: an authenticating proxy in front (oauth2-proxy, a company's SSO gateway) sets the
  user header (CR_WEB_USER_HEADER) and, optionally, the tenant header. The proxy must be the only
  way to reach the page and must overwrite these headers on every request.
- `jwt`: the request carries `Authorization: Bearer <token>` (set by the proxy or the identity
  provider's client), a JWT signed by the identity provider, verified here: signature, expiry
  (required), and issuer and audience when configured. The user and tenant are claims.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt

from campaignreports.web.settings import WebSettings

DEFAULT_USER = "web-user"


@dataclass(frozen=True)
class Identity:
    user_id: str
    tenant_id: str


class IdentityError(Exception):
    """The request has no valid identity (HTTP 401); the message says what is missing."""


Identify = Callable[[Mapping[str, str], Mapping[str, str]], Identity]
"""(headers, query parameters) -> the caller's identity, or IdentityError."""


def identify_from(settings: WebSettings) -> Identify:
    """The identity rule the settings choose (reads the JWT key now: a bad file fails at start)."""
    if settings.identity == "header":
        return _from_headers(settings)
    if settings.identity == "jwt":
        return _from_token(settings)

    def anonymous(headers: Mapping[str, str], query: Mapping[str, str]) -> Identity:
        user = query.get("user", "") if settings.allow_user_parameter else ""
        return Identity(user or DEFAULT_USER, settings.tenant_id)

    return anonymous


def _from_headers(settings: WebSettings) -> Identify:
    def identify(headers: Mapping[str, str], query: Mapping[str, str]) -> Identity:
        user = headers.get(settings.user_header, "").strip()
        if not user:
            raise IdentityError(f"no authenticated user: the {settings.user_header} header is missing")
        tenant = headers.get(settings.tenant_header, "").strip() if settings.tenant_header else ""
        if settings.tenant_header and not tenant:
            raise IdentityError(f"no tenant: the {settings.tenant_header} header is missing")
        return Identity(user, tenant or settings.tenant_id)

    return identify


def _from_token(settings: WebSettings) -> Identify:
    try:
        key = Path(settings.jwt_key_file).read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read CR_WEB_JWT_KEY_FILE {settings.jwt_key_file}: {exc.strerror}") from None
    algorithms = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
    required = [
        "exp",
        settings.jwt_user_claim,
        *([settings.jwt_tenant_claim] if settings.jwt_tenant_claim else []),
    ]

    def identify(headers: Mapping[str, str], query: Mapping[str, str]) -> Identity:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise IdentityError("send `Authorization: Bearer <token>` from the identity provider")
        try:
            claims = jwt.decode(
                token.strip(),
                key,
                algorithms=algorithms,
                issuer=settings.jwt_issuer or None,
                audience=settings.jwt_audience or None,
                options={"require": required, "verify_aud": bool(settings.jwt_audience)},
            )
        except jwt.PyJWTError as exc:
            raise IdentityError(f"the bearer token is not valid: {exc}") from None
        user = claims[settings.jwt_user_claim]
        tenant = claims[settings.jwt_tenant_claim] if settings.jwt_tenant_claim else settings.tenant_id
        if not isinstance(user, str) or not user or not isinstance(tenant, str) or not tenant:
            raise IdentityError("the bearer token's user or tenant claim is not a non-empty string")
        return Identity(user, tenant)

    return identify
