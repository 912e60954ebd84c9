"""API keys: who may call which service for which tenants.

The keys file (`CR_API_KEYS_FILE`, TOML) lists one `[[keys]]` table per key:

    [[keys]]
    name = "engine-eu"                 # shown in logs instead of the key
    sha256 = "9f86d0..."               # the key's SHA-256 in hex (or `key = "..."`, hashed on load)
    scopes = ["ingest"]                # any of ingest, query, dashboard
    tenants = ["acme", "globex"]       # or ["*"] for every tenant

Clients send `authorization: Bearer <key>`. A key is looked up by comparing its digest with
every known digest in constant time. No key or an unknown one: UNAUTHENTICATED; a key without
the service's scope: PERMISSION_DENIED; a tenant the key does not cover: PERMISSION_DENIED for
queries and dashboards, a per-event rejection naming `tenant_id` for ingest. Health and
reflection stay open (probes and grpcurl need them). Without a keys file authentication is off.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from campaignreports.grpctypes import Context, Continuation, Handler, Metadata
from campaignreports.interceptors import WrappedHandlers, wrap

log = logging.getLogger(__name__)

SCOPES = ("ingest", "query", "dashboard")
ALL_TENANTS = "*"
# gRPC service -> the scope a key needs to call it.
SERVICE_SCOPES: Mapping[str, str] = {
    "campaignreports.v1.IngestService": "ingest",
    "campaignreports.v1.QueryService": "query",
    "campaignreports.v1.DashboardService": "dashboard",
}


class KeysFileError(RuntimeError):
    """The keys file cannot be used; the message says where and why (never a key)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    scopes: frozenset[str]
    tenants: frozenset[str]

    def may_access(self, tenant_id: str) -> bool:
        return ALL_TENANTS in self.tenants or tenant_id in self.tenants


# The caller of the RPC being served (None when authentication is off).
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    def __init__(self, entries: list[tuple[bytes, Principal]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        try:
            document = tomllib.loads(path.read_text())
        except OSError as exc:
            raise KeysFileError(f"cannot read keys file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise KeysFileError(f"keys file {path} is not valid TOML: {exc}") from None
        entries = []
        for index, item in enumerate(document.get("keys", [])):
            where = f"{path}: keys[{index}]"
            name = item.get("name") or f"key #{index}"
            if ("key" in item) == ("sha256" in item):
                raise KeysFileError(f"{where}: give exactly one of `key` or `sha256`")
            try:
                digest = _digest(item["key"]) if "key" in item else bytes.fromhex(item["sha256"])
            except ValueError:
                raise KeysFileError(f"{where}: sha256 must be 64 hexadecimal digits") from None
            if len(digest) != 32:
                raise KeysFileError(f"{where}: sha256 must be 64 hexadecimal digits")
            scopes = frozenset(item.get("scopes", []))
            if not scopes or not scopes <= set(SCOPES):
                raise KeysFileError(f"{where}: scopes must be a non-empty list of {', '.join(SCOPES)}")
            tenants = frozenset(item.get("tenants", []))
            if not tenants:
                raise KeysFileError(f'{where}: tenants must list tenant ids, or ["*"] for all')
            entries.append((digest, Principal(str(name), scopes, tenants)))
        if not entries:
            raise KeysFileError(f"keys file {path} lists no [[keys]]")
        return cls(entries)

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal; every digest is compared, so timing does not reveal which matched."""
        digest = _digest(key)
        found = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, digest):
                found = principal
        return found


def bearer_token(metadata: Metadata | None) -> str | None:
    for name, value in metadata or ():
        if name.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call to a scoped service and makes the caller `current_principal`."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._handlers = WrappedHandlers()

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        service = handler_call_details.method.lstrip("/").rpartition("/")[0]
        scope = SERVICE_SCOPES.get(service)
        if handler is None or scope is None:
            return handler
        return self._handlers.get(
            handler_call_details.method, handler, lambda _, inner: _guarded(inner, self._keys, scope)
        )


async def _admit(keys: KeyRing, scope: str, context: Context) -> None:
    token = bearer_token(context.invocation_metadata())
    if token is None:
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED, "send `authorization: Bearer <API key>` metadata"
        )
    principal = keys.authenticate(token)
    if principal is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown API key")
    if scope not in principal.scopes:
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED, f"key {principal.name!r} lacks the {scope!r} scope"
        )
    current_principal.set(principal)


def _guarded(handler: Handler, keys: KeyRing, scope: str) -> Handler:
    """The same handler, admitting the caller first (in the task that runs the behaviour)."""

    async def admit(request: Any, context: Context) -> None:
        await _admit(keys, scope, context)

    return wrap(handler, admit)


async def require_tenant(context: Context, tenant_id: str) -> None:
    """Abort with PERMISSION_DENIED when the caller's key does not cover `tenant_id`."""
    principal = current_principal.get()
    if principal is not None and not principal.may_access(tenant_id):
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED, f"tenant_id: key {principal.name!r} does not cover this tenant"
        )


def may_write(tenant_id: str) -> bool:
    """Whether the current caller may write events of `tenant_id` (True when auth is off)."""
    principal = current_principal.get()
    return principal is None or principal.may_access(tenant_id)


def interceptors(keys_file: str) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors a server needs for `keys_file` ('' means authentication off, loudly)."""
    if not keys_file:
        log.warning(
            "AUTHENTICATION IS OFF: CR_API_KEYS_FILE is not set, so anyone who reaches this port "
            "can read and write every tenant's data. Set it in production."
        )
        return []
    return [AuthInterceptor(KeyRing.load(Path(keys_file)))]
