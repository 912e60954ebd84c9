from __future__ import annotations

from dataclasses import dataclass

from campaignreports.settings import ListenAddress, ProcessSettings, env

IDENTITY_MODES = ("none", "header", "jwt")


@dataclass(frozen=True)
class WebSettings(ProcessSettings):
    """The web dashboard is a gRPC client: it needs no NATS or ClickHouse settings."""

    web_listen: ListenAddress = env(
        "CR_WEB_LISTEN", ListenAddress("127.0.0.1:8080"), doc="Address of the web dashboard (HTTP)."
    )
    query_address: str = env(
        "CR_WEB_QUERY_ADDRESS",
        "127.0.0.1:50052",
        doc="Web dashboard: the QueryService / DashboardService to call.",
    )
    tenant_id: str = env(
        "CR_WEB_TENANT",
        "demo",
        doc="Web dashboard: the tenant whose campaigns it shows (unless the identity names one).",
    )
    api_key: str = env(
        "CR_WEB_API_KEY",
        "",
        doc="Web dashboard: API key it sends to the query service (query, dashboard).",
        secret=True,
    )
    query_tls_ca_file: str = env(
        "CR_WEB_QUERY_TLS_CA_FILE", "", doc="Web dashboard: CA to verify the query service with (TLS)."
    )
    identity: str = env(
        "CR_WEB_IDENTITY",
        "none",
        doc="Web dashboard: who the user is. `none`: every visitor is one shared user; `header`: "
        "the user (and tenant) headers an authenticating proxy sets; `jwt`: a signed bearer token "
        "(OIDC ID or access token) verified with CR_WEB_JWT_KEY_FILE.",
    )
    allow_user_parameter: bool = env(
        "CR_WEB_ALLOW_USER_PARAMETER",
        False,
        doc="Web dashboard, development only: with CR_WEB_IDENTITY=none, `?user=` names the user.",
    )
    user_header: str = env(
        "CR_WEB_USER_HEADER",
        "X-Forwarded-User",
        doc="Web dashboard (identity `header`): the header holding the authenticated user id.",
    )
    tenant_header: str = env(
        "CR_WEB_TENANT_HEADER",
        "",
        doc="Web dashboard (identity `header`): the header holding the user's tenant; empty: CR_WEB_TENANT.",
    )
    jwt_key_file: str = env(
        "CR_WEB_JWT_KEY_FILE",
        "",
        doc="Web dashboard (identity `jwt`): PEM public key of the identity provider (RS*/ES*/EdDSA), "
        "or the shared secret for HS256.",
    )
    jwt_algorithms: str = env(
        "CR_WEB_JWT_ALGORITHMS", "RS256", doc="Web dashboard (identity `jwt`): accepted signing algorithms."
    )
    jwt_issuer: str = env(
        "CR_WEB_JWT_ISSUER",
        "",
        doc="Web dashboard (identity `jwt`): the required `iss` (empty: not checked).",
    )
    jwt_audience: str = env(
        "CR_WEB_JWT_AUDIENCE",
        "",
        doc="Web dashboard (identity `jwt`): the required `aud` (empty: not checked).",
    )
    jwt_user_claim: str = env(
        "CR_WEB_JWT_USER_CLAIM", "sub", doc="Web dashboard (identity `jwt`): the claim holding the user id."
    )
    jwt_tenant_claim: str = env(
        "CR_WEB_JWT_TENANT_CLAIM",
        "",
        doc="Web dashboard (identity `jwt`): the claim holding the tenant; empty: CR_WEB_TENANT.",
    )
    heartbeat_seconds: float = env(
        "CR_WEB_HEARTBEAT_SECONDS",
        15.0,
        doc="Web dashboard: a live report stream quiet this long gets a keep-alive comment, which "
        "keeps proxies from closing it and ends the stream (and its WatchReport) once the page is gone.",
    )
    allowed_hosts: str = env(
        "CR_WEB_ALLOWED_HOSTS",
        "127.0.0.1,localhost,::1",
        doc="Web dashboard: host names the page may be reached by (the Host header; `*`: any). "
        "Guards against DNS rebinding.",
    )
    allowed_origins: str = env(
        "CR_WEB_ALLOWED_ORIGINS",
        "",
        doc="Web dashboard: origins (scheme://host[:port]) allowed to call it besides its own hosts.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.identity not in IDENTITY_MODES:
            raise ValueError(
                f"CR_WEB_IDENTITY={self.identity!r} is invalid: use one of {', '.join(IDENTITY_MODES)}"
            )
        if self.identity == "jwt" and not self.jwt_key_file:
            raise ValueError("CR_WEB_JWT_KEY_FILE is required with CR_WEB_IDENTITY=jwt")
        if self.heartbeat_seconds <= 0:
            raise ValueError("CR_WEB_HEARTBEAT_SECONDS must be more than 0")
        if self.allow_user_parameter and self.identity != "none":
            raise ValueError("CR_WEB_ALLOW_USER_PARAMETER only applies with CR_WEB_IDENTITY=none")
