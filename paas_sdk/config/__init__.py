"""Typed, hot-reloaded configuration from Apollo, or from local files when Apollo is not set up.

    client = open_config(app_id="orders").start()      # ApolloClient or FileConfigClient
    settings = TypedSettings(OrderSettings, client)
    settings.current.db.url                            # lock-free, always a validated instance
    client.add_change_listener(lambda event: ...)      # ADDED / MODIFIED / DELETED per key

`open_config()` reads the environment: `APOLLO_CONFIG_SERVICE` (a config-service URL) or
`APOLLO_META` (comma-separated meta servers), `APOLLO_NAMESPACES` (default `application`),
`APOLLO_CLUSTER` (default `PAAS_CLUSTER`, else `IDC`, else `default`), `IDC`, `APOLLO_LABEL`,
`APOLLO_ACCESS_KEY_SECRET`, `APOLLO_CACHE_DIR` (default `/opt/data`). With neither Apollo
variable set it reads the files in `PAAS_CONFIG_DIR` (default `./config`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.registry import CollectorRegistry

from paas_sdk.config._apollo import ApolloClient, sign
from paas_sdk.config._files import FileConfigClient
from paas_sdk.config._store import (
    ChangeListener,
    ChangeType,
    ConfigChange,
    ConfigChangeEvent,
    ConfigSource,
    ConfigStore,
)
from paas_sdk.config._typed import ApolloSettingsSource, TypedSettings

__all__ = [
    "ApolloClient",
    "ApolloSettingsSource",
    "ChangeListener",
    "ChangeType",
    "ConfigChange",
    "ConfigChangeEvent",
    "ConfigSource",
    "ConfigStore",
    "FileConfigClient",
    "TypedSettings",
    "open_config",
    "sign",
]


def open_config(
    app_id: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    metrics: CollectorRegistry | None = None,
) -> ApolloClient | FileConfigClient:
    """The client the environment asks for (not started): Apollo if configured, else files."""
    env = os.environ if environ is None else environ
    from paas_sdk.context import ServiceContext

    context = ServiceContext.from_env(env)
    config_service = env.get("APOLLO_CONFIG_SERVICE") or None
    meta = [m.strip() for m in env.get("APOLLO_META", "").split(",") if m.strip()]
    if config_service or meta:
        namespaces = [
            n.strip() for n in env.get("APOLLO_NAMESPACES", "application").split(",") if n.strip()
        ]
        return ApolloClient(
            app_id or context.app_id,
            namespaces,
            meta_servers=meta,
            config_service=config_service,
            # An explicit cluster, else the data centre picks it (Java's ConfigUtil.initCluster).
            cluster=env.get("APOLLO_CLUSTER") or env.get("PAAS_CLUSTER") or None,
            data_centre=env.get("IDC") or None,
            label=env.get("APOLLO_LABEL") or None,
            ip=context.pod_ip,
            secret=env.get("APOLLO_ACCESS_KEY_SECRET") or None,
            cache_dir=Path(env.get("APOLLO_CACHE_DIR", "/opt/data")),
            metrics=metrics,
        )
    return FileConfigClient.from_directory(env.get("PAAS_CONFIG_DIR", "config"), metrics=metrics)
