"""Structured logs: ECS JSON lines, shipped to Kafka without blocking, indexed into Elasticsearch.

``EcsFormatter`` formats, ``KafkaLogHandler`` ships, ``configure_logging`` installs both; the
``paas-logs`` command (``setup``, ``index``, ``tail``) runs the Elasticsearch side. confluent-kafka
is imported only when a Kafka handler is created, elasticsearch only by the command.
"""

from paas_sdk.logs._formatter import (
    DEFAULT_REDACTED_KEYS,
    ECS_VERSION,
    EcsFormatter,
    current_trace,
    error_type,
    new_record_id,
)
from paas_sdk.logs._kafka import KafkaLogHandler, ShippingStats
from paas_sdk.logs._metrics import LogMetrics
from paas_sdk.logs._setup import LoggingSetup, configure_logging

__all__ = [
    "DEFAULT_REDACTED_KEYS",
    "ECS_VERSION",
    "EcsFormatter",
    "KafkaLogHandler",
    "LogMetrics",
    "LoggingSetup",
    "ShippingStats",
    "configure_logging",
    "current_trace",
    "error_type",
    "new_record_id",
]
