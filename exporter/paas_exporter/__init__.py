"""paas_exporter: Harbor, Jenkins and Spinnaker state as Prometheus metrics.

Run as `paas-exporter`, a Deployment on the platform that Prometheus scrapes.
"""

__version__ = "0.1.0"
