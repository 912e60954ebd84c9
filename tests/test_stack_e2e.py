"""End to end, against the stack as `make run` starts it (`python -m campaignreports.stack`):
a real nats-server, the services as separate processes, chDB, gRPC over loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import proto_reflection_descriptor_database as reflection_db
from helpers import acceptance_funnel, metric_values, poll

from campaignreports.stack.__main__ import READY_LINE
from campaignreports.stack.processes import free_port
from campaignreports.v1 import (
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
WEB_USER_HEADER = "X-Forwarded-User"


@dataclass
class RunningStack:
    ingest_address: str
    query_address: str
    web_address: str
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    ingest, query, page = (f"127.0.0.1:{free_port()}" for _ in range(3))
    env = {
        **os.environ,
        "CR_STACK_DATA_DIR": str(tmp_path_factory.mktemp("stack")),
        "CR_INGEST_LISTEN": ingest,
        "CR_QUERY_LISTEN": query,
        "CR_WEB_LISTEN": page,
        # The web page as it is deployed behind a company's login: the proxy names the user.
        "CR_WEB_IDENTITY": "header",
        "CR_WEB_USER_HEADER": WEB_USER_HEADER,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "campaignreports.stack"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    assert process.stdout is not None
    for line in process.stdout:
        if READY_LINE in line:
            break
    else:
        pytest.fail(f"the stack exited with code {process.wait()} before it was ready")
    yield RunningStack(ingest, query, page, process)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, f"the stack did not stop cleanly: {rest}"
    assert "campaign-reports: stopped" in rest


@pytest.mark.parametrize("which", ["ingest_address", "query_address"])
def test_both_ports_report_serving(stack: RunningStack, which: str) -> None:
    with grpc.insecure_channel(getattr(stack, which)) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("which", "service"),
    [
        ("ingest_address", "campaignreports.v1.IngestService"),
        ("query_address", "campaignreports.v1.QueryService"),
    ],
)
def test_reflection_lists_the_public_service(stack: RunningStack, which: str, service: str) -> None:
    with grpc.insecure_channel(getattr(stack, which)) as channel:
        services = reflection_db.ProtoReflectionDescriptorDatabase(channel).get_services()
    assert service in services
    assert "grpc.health.v1.Health" in services


def test_email_statistics_are_exact_in_the_live_window(stack: RunningStack) -> None:
    tenant_id, campaign_id = "e2e", f"campaign-{uuid.uuid4().hex[:8]}"
    events = acceptance_funnel(tenant_id, campaign_id)
    with (
        grpc.insecure_channel(stack.ingest_address) as ingest,
        grpc.insecure_channel(stack.query_address) as query,
    ):
        reply = ingest_service_pb2_grpc.IngestServiceStub(ingest).Ingest(
            ingest_service_pb2.IngestRequest(events=events), timeout=10
        )
        assert reply.accepted == 10 and not reply.rejected
        stub = query_service_pb2_grpc.QueryServiceStub(query)
        request = query_service_pb2.GetWidgetRequest(
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            widget_id="email_statistics",
            window=query_service_pb2.TimeWindow(live=query_service_pb2.LiveWindow()),
        )
        values = poll(lambda: metric_values(stub.GetWidget(request, timeout=10)), lambda v: v["clicks"] == 1)
    assert {k: values[k] for k in ("sent", "delivered", "opens", "distinct_opens", "clicks")} == {
        "sent": 2,
        "delivered": 2,
        "opens": 3,
        "distinct_opens": 2,
        "clicks": 1,
    }


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command-line tool of the project as a user would."""
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120)


def test_the_first_event_example_prints_the_campaign_numbers(stack: RunningStack) -> None:
    result = run_module(
        "campaignreports.demo.example", "--ingest", stack.ingest_address, "--query", stack.query_address
    )
    assert result.returncode == 0, result.stderr
    assert "10 events accepted, 0 rejected" in result.stdout
    values = dict(re.findall(r"^  (\S.*?)\s+(\d+)", result.stdout, flags=re.MULTILINE))
    assert values["Sent"] == "2" and values["Distinct opens"] == "2" and values["Clicks"] == "1"


def test_make_demo_fills_the_stack(stack: RunningStack) -> None:
    """`make demo` runs `python -m campaignreports.demo.traffic` against the running stack."""
    result = run_module(
        "campaignreports.demo.traffic",
        "--ingest",
        stack.ingest_address,
        "--profiles",
        "2000",
        "--campaign",
        "demo-e2e",
    )
    assert result.returncode == 0, result.stderr
    assert " 0 rejected" in result.stdout
    with grpc.insecure_channel(stack.query_address) as query:
        stub = query_service_pb2_grpc.QueryServiceStub(query)
        request = query_service_pb2.GetWidgetRequest(
            tenant_id="demo", campaign_id="demo-e2e", widget_id="email_statistics"
        )
        values = poll(lambda: metric_values(stub.GetWidget(request, timeout=10)), lambda v: v["sent"] > 1_500)
    assert values["delivered"] <= values["sent"] and values["opens"] > values["clicks"] > 0


def test_the_healthcheck_command_of_helm_test(stack: RunningStack) -> None:
    """`python -m campaignreports.healthcheck`, which the chart's `helm test` pod runs."""
    healthy = run_module("campaignreports.healthcheck", stack.ingest_address, stack.query_address)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.count("SERVING") == 2
    nobody = run_module("campaignreports.healthcheck", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert nobody.returncode == 1 and "UNAVAILABLE" in nobody.stdout


def _child_running(parent: int, module: str) -> int:
    """The pid of `parent`'s child process running `python -m module`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if ppid == parent and module.encode() in command:
            return int(entry.name)
    raise AssertionError(f"no child of {parent} runs {module}")


def test_a_service_that_exits_is_started_again(stack: RunningStack) -> None:
    """`make run` supervises its services like Kubernetes: one that dies comes back."""
    killed = _child_running(stack.process.pid, "campaignreports.ingest")
    os.kill(killed, signal.SIGKILL)
    poll(lambda: _child_running_or_none(stack.process.pid), lambda pid: pid not in (None, killed), within=10)
    with grpc.insecure_channel(stack.ingest_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def status() -> int | None:
            try:
                return stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
            except grpc.RpcError:
                return None

        assert poll(status, lambda s: s == health_pb2.HealthCheckResponse.SERVING, within=60) == (
            health_pb2.HealthCheckResponse.SERVING
        )
    assert stack.process.poll() is None


def _child_running_or_none(parent: int) -> int | None:
    try:
        return _child_running(parent, "campaignreports.ingest")
    except AssertionError:
        return None
