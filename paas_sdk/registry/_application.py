"""Dubbo 3 application-level registration: the service instance, its metadata and the mapping.

Three nodes make a Dubbo 3 consumer in `APPLICATION_FIRST` or `FORCE_APPLICATION` mode find us:
the ephemeral instance ``/services/{app}/{ip:port}`` (Curator's JSON with a
`ZookeeperInstance` payload), the persistent metadata ``/{root}/metadata/{app}/{revision}``
(`storage-type=remote`), and ``/{root}/mapping/{interface}`` listing the apps that provide it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from paas_sdk.errors import InvalidDubboURLError, RegistryError
from paas_sdk.registry._url import DubboURL
from paas_sdk.registry._zookeeper import ZooKeeperRegistry, _Node

__all__ = ["ApplicationInstance"]

_PAYLOAD_CLASS = "org.apache.dubbo.registry.zookeeper.ZookeeperInstance"


class ApplicationInstance:
    """One application instance and the services it exposes, registered the Dubbo 3 way.

    Register interface-level URLs too (the default in Dubbo 3) so 2.x consumers keep working;
    this is the optional second half.
    """

    def __init__(
        self,
        registry: ZooKeeperRegistry,
        application: str,
        host: str,
        port: int,
        services: Sequence[DubboURL],
        *,
        services_root: str = "/services",
    ) -> None:
        if not services:
            raise InvalidDubboURLError("an application instance needs at least one service")
        for url in services:
            if url.get("side", "provider") != "provider":
                raise InvalidDubboURLError(
                    "only provider URLs describe an instance", where=str(url)
                )
        self.registry = registry
        self.application = application
        self.host = host
        self.port = port
        self.services = tuple(services)
        self.services_root = "/" + services_root.strip("/")
        self.registration_time_ms = int(time.time() * 1000)

    # -- documents -----------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The `MetadataInfo` document consumers read to turn the instance into URLs."""
        services: dict[str, Any] = {}
        for url in self.services:
            info: dict[str, Any] = {
                "name": url.interface,
                "protocol": url.protocol,
                "port": url.port,
                "path": url.path or url.interface,
                "params": {k: v for k, v in url.params if k not in ("pid", "timestamp", "anyhost")},
            }
            if url.group:
                info["group"] = url.group
            if url.version:
                info["version"] = url.version
            services[f"{url.service_key}:{url.protocol}"] = info
        return {"app": self.application, "revision": self.revision, "services": services}

    @property
    def revision(self) -> str:
        """A digest of what the instance exposes: equal metadata, equal revision."""
        canonical = [
            (
                f"{u.service_key}:{u.protocol}",
                u.port,
                sorted((k, v) for k, v in u.params if k not in ("pid", "timestamp", "anyhost")),
            )
            for u in self.services
        ]
        text = self.application + json.dumps(sorted(canonical), separators=(",", ":"))
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    def instance(self) -> dict[str, Any]:
        """Curator's `ServiceInstance` JSON as Dubbo's `ZookeeperServiceDiscovery` writes it."""
        endpoints = sorted({(u.protocol, u.port) for u in self.services})
        metadata = {
            "dubbo.endpoints": json.dumps(
                [{"port": port, "protocol": protocol} for protocol, port in endpoints],
                separators=(",", ":"),
            ),
            "dubbo.metadata.revision": self.revision,
            "dubbo.metadata.storage-type": "remote",
            # consumers in application mode read warm-up from the instance, as from a URL
            "timestamp": str(self.registration_time_ms),
        }
        return {
            "name": self.application,
            "id": self.address,
            "address": self.host,
            "port": self.port,
            "sslPort": None,
            "payload": {
                "@class": _PAYLOAD_CLASS,
                "id": self.address,
                "name": self.application,
                "metadata": dict(sorted(metadata.items())),
            },
            "registrationTimeUTC": self.registration_time_ms,
            "serviceType": "DYNAMIC",
            "uriSpec": None,
        }

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def instance_path(self) -> str:
        return f"{self.services_root}/{self.application}/{self.address}"

    @property
    def metadata_path(self) -> str:
        return f"{self.registry.root}/metadata/{self.application}/{self.revision}"

    def mapping_path(self, interface: str) -> str:
        return f"{self.registry.root}/mapping/{interface}"

    # -- registration --------------------------------------------------------------------------
    def register(self) -> None:
        """Write metadata and mappings (persistent) and the instance (ephemeral, restored)."""
        client = self.registry._client
        if client is None or not self.registry.connected:
            raise RegistryError("the registry is not connected", where=self.registry.hosts)
        self._put(self.metadata_path, json.dumps(self.metadata(), separators=(",", ":")).encode())
        for interface in sorted({u.interface for u in self.services}):
            self._map(interface)
        body = json.dumps(self.instance(), separators=(",", ":")).encode()
        self.registry._keep(self.instance_path, _Node("", ephemeral=True, data=body))

    def unregister(self) -> None:
        """Remove the instance; metadata and mappings stay, as Dubbo leaves them."""
        self.registry._drop(self.instance_path)

    def _put(self, path: str, data: bytes) -> None:
        from kazoo.exceptions import NodeExistsError

        client = self.registry._client
        assert client is not None
        try:
            try:
                client.create(path, data, acl=self.registry._acl, makepath=True)
            except NodeExistsError:
                client.set(path, data)
        except Exception as exc:
            self.registry._raise(exc, path)

    def _map(self, interface: str) -> None:
        """Add our app to the comma list with compare-and-set, as Dubbo's metadata report does."""
        from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

        client = self.registry._client
        assert client is not None
        path = self.mapping_path(interface)
        for _attempt in range(10):
            try:
                try:
                    raw, stat = client.get(path)
                except NoNodeError:
                    client.create(
                        path, self.application.encode(), acl=self.registry._acl, makepath=True
                    )
                    return
                apps = [a for a in raw.decode().split(",") if a]
                if self.application in apps:
                    return
                client.set(path, ",".join([*apps, self.application]).encode(), stat.version)
                return
            except (BadVersionError, NodeExistsError):
                continue
            except Exception as exc:
                self.registry._raise(exc, path)
        raise RegistryError("the mapping kept changing under us", where=path)
