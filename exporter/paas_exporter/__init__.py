"""paas_exporter: Harbor, Jenkins and Spinnaker state as Prometheus metrics.

Run as `paas-exporter --config exporter.yaml`, a Deployment on the platform that Prometheus
scrapes. Targets are polled in the background; each poll's metrics are rendered once and served
as bytes, so a scrape costs the same at 20 jobs or 20 000.
"""

__version__ = "0.1.0"

from paas_exporter.config import ExporterConfig, load_config, parse_config
from paas_exporter.exposition import Exposition, MetricFamily
from paas_exporter.poller import Poller
from paas_exporter.server import MetricsServer

__all__ = [
    "ExporterConfig",
    "Exposition",
    "MetricFamily",
    "MetricsServer",
    "Poller",
    "__version__",
    "load_config",
    "parse_config",
]
