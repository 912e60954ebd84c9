"""`python -m campaignreports.healthcheck HOST:PORT [HOST:PORT ...]`: exit 0 when every server
answers SERVING on grpc.health.v1 (the Helm chart's `helm test` pod runs this).

`--tls-ca FILE` checks over TLS, trusting that CA.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def status_of(address: str, tls_ca: bytes | None, timeout: float) -> str:
    channel = (
        grpc.secure_channel(address, grpc.ssl_channel_credentials(tls_ca))
        if tls_ca
        else grpc.insecure_channel(address)
    )
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
        except grpc.RpcError as exc:
            return f"{exc.code().name}: {exc.details()}"
    status: str = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addresses", nargs="+", metavar="HOST:PORT")
    parser.add_argument("--tls-ca", type=Path, help="PEM CA to verify the servers with (TLS)")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    tls_ca = args.tls_ca.read_bytes() if args.tls_ca else None
    healthy = True
    for address in args.addresses:
        status = status_of(address, tls_ca, args.timeout)
        print(f"{address}: {status}")
        healthy &= status == "SERVING"
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
