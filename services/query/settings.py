from __future__ import annotations

from dataclasses import dataclass

from campaignreports.settings import CommonSettings, ListenAddress, env


@dataclass(frozen=True)
class QuerySettings(CommonSettings):
    query_listen: ListenAddress = env(
        "CR_QUERY_LISTEN", ListenAddress("127.0.0.1:50052"), doc="Address of the QueryService gRPC server."
    )
