"""ZooKeeper without credentials writes world-writable nodes: warned about at start, refused with
`refuse_open_acl`, and refused by `init()` in a production environment unless allowed."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import Permissions, make_acl
from prometheus_client import CollectorRegistry

import paas_sdk
from paas_sdk.context import ServiceContext
from paas_sdk.errors import ConfigError, RegistryAuthError
from paas_sdk.platform import PlatformSettings
from paas_sdk.registry import ZooKeeperRegistry
from tests.registry.conftest import provider

WARNING = "would be world-writable (world:anyone)"


def test_a_registry_without_credentials_warns_and_its_nodes_are_indeed_world_writable(
    zookeeper: Any,
    observer: KazooClient,
    interface: str,
    metrics: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="paas_sdk.registry")
    registry = ZooKeeperRegistry(zookeeper.address, root=f"open-{interface}", metrics=metrics)
    registry.start()
    try:
        registry.register(provider(interface))
        path = f"/open-{interface}/{interface}/providers"
        acls, _ = observer.get_acls(path)
    finally:
        registry.close()
    warnings = [r.getMessage() for r in caplog.records if WARNING in r.getMessage()]
    assert len(warnings) == 1
    assert "give digest credentials (zookeeper://user:password@host)" in warnings[0]
    # what the warning says is so: anyone may delete and rewrite
    assert [(acl.id.scheme, acl.id.id, acl.perms) for acl in acls] == [
        ("world", "anyone", Permissions.ALL)
    ]


def test_refuse_open_acl_fails_before_writing_anything(
    zookeeper: Any, observer: KazooClient, interface: str, metrics: CollectorRegistry
) -> None:
    registry = ZooKeeperRegistry(
        zookeeper.address, root=f"refused-{interface}", refuse_open_acl=True, metrics=metrics
    )
    with pytest.raises(RegistryAuthError) as caught:
        registry.start()
    assert str(caught.value).startswith(f"{zookeeper.address}: nodes under /refused-")
    assert observer.exists(f"/refused-{interface}") is None


def test_digest_credentials_or_a_read_only_world_acl_raise_no_warning(
    zookeeper: Any, interface: str, metrics: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="paas_sdk.registry")
    for options in (
        {"username": "dubbo", "password": "s3cret"},
        {"acl": [make_acl("world", "anyone", read=True), make_acl("ip", "127.0.0.1", all=True)]},
    ):
        registry = ZooKeeperRegistry(
            zookeeper.address,
            root=f"closed-{interface}",
            refuse_open_acl=True,
            metrics=metrics,
            **options,
        )
        registry.start()
        registry.close()
    assert not [r for r in caplog.records if WARNING in r.getMessage()]


def _init(zookeeper: Any, environment: str, **settings: Any) -> paas_sdk.Platform:
    return paas_sdk.init(
        context=ServiceContext.from_env({"PAAS_APP_ID": "orders", "PAAS_ENV": environment}),
        settings=PlatformSettings(
            zookeeper=zookeeper.address, metrics_port=-1, drain_seconds=0, **settings
        ),
        metrics_registry=CollectorRegistry(),
        configure_logging=False,
        load_config=False,
        install_signal_handlers=False,
    )


def test_init_refuses_open_nodes_in_production_unless_explicitly_allowed(
    zookeeper: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError) as caught:
        _init(zookeeper, "PRO")
    message = str(caught.value)
    assert message.startswith("PAAS_ZOOKEEPER: ")
    assert "refused because PAAS_ENV=PRO is production" in message
    assert "PAAS_ZOOKEEPER_ALLOW_OPEN_ACL=true" in message
    caplog.set_level(logging.WARNING, logger="paas_sdk.registry")
    platform = _init(zookeeper, "production", zookeeper_allow_open_acl=True)
    platform.shutdown()
    assert any(WARNING in r.getMessage() for r in caplog.records)


def test_init_only_warns_outside_production(
    zookeeper: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="paas_sdk.registry")
    platform = _init(zookeeper, "fat")
    platform.shutdown()
    assert any(WARNING in r.getMessage() for r in caplog.records)


def test_init_in_production_with_credentials_from_a_file_registers_closed_nodes(
    zookeeper: Any,
    observer: KazooClient,
    interface: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = tmp_path / "zookeeper-password"
    password.write_text("s3cret\n")
    caplog.set_level(logging.WARNING, logger="paas_sdk.registry")
    platform = _init(
        zookeeper, "PRO", zookeeper_username="orders", zookeeper_password_file=password
    )
    try:
        assert platform.registry is not None
        platform.registry.register(provider(interface))
        wait = time.monotonic() + 10
        while not platform.registry.registered and time.monotonic() < wait:
            time.sleep(0.05)
        assert platform.registry.registered
        with pytest.raises(NoAuthError):  # an anonymous client can neither read nor delete
            observer.get_children(f"/dubbo/{interface}/providers")
        with pytest.raises(NoAuthError):
            observer.delete(f"/dubbo/{interface}", recursive=True)
    finally:
        platform.shutdown()
    assert not any(WARNING in r.getMessage() for r in caplog.records)


def test_a_missing_password_file_is_named(zookeeper: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _init(
            zookeeper,
            "PRO",
            zookeeper_username="orders",
            zookeeper_password_file=tmp_path / "absent",
        )
    assert str(caught.value) == (
        f"PAAS_ZOOKEEPER_PASSWORD_FILE={tmp_path / 'absent'}: cannot read the ZooKeeper "
        "password: No such file or directory"
    )
