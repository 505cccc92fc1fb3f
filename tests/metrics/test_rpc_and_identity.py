"""RPC timing, the service's identity and the runtime collectors."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from paas_sdk.context import ServiceContext
from paas_sdk.metrics import RpcMetrics, register_runtime_collectors, register_service_info

SERVICE = "com.acme.UserService"


def _count(registry: CollectorRegistry, side: str, method: str, status: str) -> float | None:
    labels = {"service": SERVICE, "method": method, "status": status}
    return registry.get_sample_value(f"rpc_{side}_duration_seconds_count", labels)


def test_client_calls_are_timed_by_outcome(registry: CollectorRegistry) -> None:
    rpc = RpcMetrics.of(registry)
    with rpc.client(SERVICE, "getUser"):
        pass
    with pytest.raises(TimeoutError), rpc.client(SERVICE, "getUser"):
        raise TimeoutError("no answer in 3s")
    assert _count(registry, "client", "getUser", "ok") == 1
    assert _count(registry, "client", "getUser", "TimeoutError") == 1


def test_decorated_server_methods_sync_and_async(registry: CollectorRegistry) -> None:
    rpc = RpcMetrics.of(registry)

    @rpc.server(SERVICE, "getUser")
    def get_user(user_id: int) -> dict[str, int]:
        if user_id < 0:
            raise ValueError("negative id")
        return {"id": user_id}

    @rpc.server(SERVICE, "listUsers")
    async def list_users() -> list[int]:
        await asyncio.sleep(0.01)
        return [1, 2]

    assert get_user(5) == {"id": 5}
    with pytest.raises(ValueError, match="negative id"):
        get_user(-1)
    assert asyncio.run(list_users()) == [1, 2]
    assert _count(registry, "server", "getUser", "ok") == 1
    assert _count(registry, "server", "getUser", "ValueError") == 1
    assert _count(registry, "server", "listUsers", "ok") == 1
    took = registry.get_sample_value(
        "rpc_server_duration_seconds_sum",
        {"service": SERVICE, "method": "listUsers", "status": "ok"},
    )
    assert took is not None
    assert took >= 0.01


def test_overlapping_calls_through_one_timer_each_keep_their_own_start(
    registry: CollectorRegistry,
) -> None:
    timer = RpcMetrics.of(registry).client(SERVICE, "getUser")

    async def times_out() -> None:
        with timer:
            await asyncio.sleep(0.1)
            raise TimeoutError

    async def first() -> None:  # starts first, ends first
        with pytest.raises(TimeoutError):
            await times_out()

    async def second() -> None:  # starts while the first runs, ends after it
        await asyncio.sleep(0.05)
        with timer:
            await asyncio.sleep(0.25)

    async def both() -> None:
        await asyncio.gather(first(), second())

    asyncio.run(both())

    def took(status: str) -> float:
        labels = {"service": SERVICE, "method": "getUser", "status": status}
        value = registry.get_sample_value("rpc_client_duration_seconds_sum", labels)
        assert value is not None
        return value

    assert took("TimeoutError") >= 0.1
    assert took("ok") >= 0.25


def test_the_same_registry_shares_one_set_of_families(registry: CollectorRegistry) -> None:
    assert RpcMetrics.of(registry) is RpcMetrics.of(registry)
    assert RpcMetrics.of(registry) is not RpcMetrics.of(CollectorRegistry())


def test_service_info_carries_the_context(registry: CollectorRegistry) -> None:
    context = ServiceContext.from_env(
        {"PAAS_APP_ID": "orders", "PAAS_VERSION": "1.4.2", "PAAS_ENV": "prod", "PAAS_CLUSTER": "sh"}
    )
    register_service_info(context, registry)
    labels = {"app": "orders", "version": "1.4.2", "env": "prod", "cluster": "sh"}
    assert registry.get_sample_value("paas_service_info", labels) == 1


def test_registering_the_identity_again_replaces_it(registry: CollectorRegistry) -> None:
    register_service_info(ServiceContext.from_env({"PAAS_APP_ID": "orders"}), registry)
    register_service_info(
        ServiceContext.from_env({"PAAS_APP_ID": "orders", "PAAS_VERSION": "2.0.0"}), registry
    )
    text = generate_latest(registry).decode()
    assert text.count("paas_service_info{") == 1
    assert 'version="2.0.0"' in text


def test_runtime_collectors_in_a_registry_of_ones_own(registry: CollectorRegistry) -> None:
    register_runtime_collectors(registry)
    text = generate_latest(registry).decode()
    assert "process_resident_memory_bytes" in text
    assert "python_gc_objects_collected_total" in text
    assert "python_info" in text
