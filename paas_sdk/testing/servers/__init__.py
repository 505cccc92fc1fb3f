"""Real servers for tests: ZooKeeper, Kafka (KRaft), Elasticsearch, Prometheus, and etcd with
kube-apiserver and CoreDNS built from their Go modules.

Each server runs as a child process on free loopback ports in its own temporary directory, from
binaries that the bootstrap (`python -m paas_sdk.testing.servers`) put into the cache directory
(`PAAS_CACHE_DIR`, default `~/.cache/paas-sdk`). `stop()` always ends the process; `restart()`
keeps ports and data, so a test can take a server away and bring it back.
"""

from paas_sdk.testing.servers._process import ServerProcess, free_port
from paas_sdk.testing.servers.cache import Cache
from paas_sdk.testing.servers.coredns import CoreDNSServer
from paas_sdk.testing.servers.elasticsearch import ElasticsearchServer
from paas_sdk.testing.servers.kafka import KafkaCluster, KafkaServer
from paas_sdk.testing.servers.kubernetes import APIServer, EtcdServer, KubernetesCluster
from paas_sdk.testing.servers.prometheus import PrometheusServer, promtool
from paas_sdk.testing.servers.zookeeper import ZooKeeperEnsemble, ZooKeeperServer

__all__ = [
    "APIServer",
    "Cache",
    "CoreDNSServer",
    "ElasticsearchServer",
    "EtcdServer",
    "KafkaCluster",
    "KafkaServer",
    "KubernetesCluster",
    "PrometheusServer",
    "ServerProcess",
    "ZooKeeperEnsemble",
    "ZooKeeperServer",
    "free_port",
    "promtool",
]
