"""Dubbo registration and discovery on ZooKeeper, in the layout Java consumers and Dubbo Admin read.

    from paas_sdk.registry import DubboURL, ZooKeeperRegistry

    registry = ZooKeeperRegistry("zk-0:2181,zk-1:2181").start()
    registry.register(DubboURL.provider("com.acme.Greeter", pod_ip, 20880,
                                        application="greeter", methods=["greet"]))
    greeters = registry.subscribe("com.acme.Greeter")   # greeters.providers stays current

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
from paas_sdk.registry._zookeeper import ProvidersListener, Subscription, ZooKeeperRegistry

__all__ = [
    "DUBBO_PROTOCOL_VERSION",
    "DUBBO_RELEASE",
    "ApplicationInstance",
    "DubboURL",
    "ProvidersListener",
    "RegistryCollector",
    "Subscription",
    "ZooKeeperRegistry",
    "java_url_decode",
    "java_url_encode",
]
