"""Dubbo registration and discovery on ZooKeeper, in the layout Java consumers and Dubbo Admin read.

    from paas_sdk.registry import DubboURL, ZooKeeperRegistry

    registry = ZooKeeperRegistry("zk-0:2181,zk-1:2181").start()
    registry.register(DubboURL.provider("com.acme.Greeter", pod_ip, 20880,
                                        application="greeter", methods=["greet"]))
    greeters = registry.subscribe("com.acme.Greeter")   # greeters.providers stays current

With graceful shutdown (`paas_sdk.lifecycle`), deregister first and close last:

    lifecycle.add_readiness("registered", lambda: registry.registered)
    lifecycle.on_deregister("registry", registry.unregister_all)
    lifecycle.on_stop("zookeeper", registry.close)

`ZooKeeperRegistry.from_address("zookeeper://user:pass@zk-0:2181?backup=zk-1:2181")` takes the
address Java services configure. `ApplicationInstance` adds Dubbo 3 application-level entries.
Needs the `zookeeper` extra (kazoo). Registrations and subscriptions are restored after every new
ZooKeeper session; `registry.close()` unregisters before it disconnects.
"""

from paas_sdk.registry._application import ApplicationInstance
from paas_sdk.registry._metrics import RegistryCollector
from paas_sdk.registry._url import (
    DUBBO_PROTOCOL_VERSION,
    DUBBO_RELEASE,
    DubboURL,
    java_url_decode,
    java_url_encode,
)
from paas_sdk.registry._zookeeper import (
    ProvidersListener,
    Subscription,
    Watch,
    ZooKeeperRegistry,
)

__all__ = [
    "DUBBO_PROTOCOL_VERSION",
    "DUBBO_RELEASE",
    "ApplicationInstance",
    "DubboURL",
    "ProvidersListener",
    "RegistryCollector",
    "Subscription",
    "Watch",
    "ZooKeeperRegistry",
    "java_url_decode",
    "java_url_encode",
]
