"""Test support that ships with the SDK, for this project's tests and for a service's own.

- `paas_sdk.testing.servers`: real ZooKeeper, Kafka, Elasticsearch and Prometheus servers started
  from a local cache (see `python -m paas_sdk.testing.servers.bootstrap`), with pytest fixtures in
  `paas_sdk.testing.pytest_plugin`.
- Protocol doubles for the servers that cannot run here (Apollo, Grafana, Harbor, Jenkins,
  Spinnaker) answer over real HTTP exactly as their documented APIs do.

Nothing here is imported by `paas_sdk` itself.
"""
