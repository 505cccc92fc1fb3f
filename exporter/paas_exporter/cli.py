"""`paas-exporter`: load the config, poll the targets, serve `/metrics`."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from paas_exporter import __version__
from paas_exporter.config import load_config
from paas_exporter.poller import Poller
from paas_exporter.server import MetricsServer
from paas_sdk._cli import CONTEXT_SETTINGS, honour_no_color
from paas_sdk._http_server import describe_listening
from paas_sdk._web_config import load_web_config
from paas_sdk.errors import ConfigError, ExporterConfigError, PaasError


def _configure_logging(level: str, *, to_stderr: bool) -> None:
    """The exporter is a service on the platform too: ECS JSON on stdout, and to Kafka when
    ``PAAS_KAFKA_BOOTSTRAP`` is set, exactly as `paas_sdk.init()` does for other services."""
    from paas_sdk.context import ServiceContext
    from paas_sdk.logs import configure_logging

    environ = dict(os.environ)
    environ.setdefault("PAAS_APP_ID", "paas-exporter")
    environ.setdefault("PAAS_VERSION", __version__)
    try:
        context = ServiceContext.from_env(environ)
    except PaasError as error:
        click.echo(f"paas-exporter: {error}", err=True)
        sys.exit(2)
    configure_logging(
        context,
        kafka_bootstrap=os.environ.get("PAAS_KAFKA_BOOTSTRAP") or None,
        topic=os.environ.get("PAAS_LOG_TOPIC", "paas-logs"),
        level=level.upper(),
        stream=sys.stderr if to_stderr else sys.stdout,  # --once prints the metrics on stdout
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per upstream request is noise


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="PAAS_EXPORTER_CONFIG",
    required=True,
    help="YAML config file (env PAAS_EXPORTER_CONFIG).",
)
@click.option("--host", default=None, help="Listen address (overrides listen.host).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Listen port (overrides listen.port).",
)
@click.option(
    "--web.config.file",
    "web_config_file",
    type=click.Path(path_type=Path),
    envvar="PAAS_WEB_CONFIG_FILE",
    default=None,
    help="Prometheus exporter-toolkit web config: TLS and basic auth, re-read when it or its "
    "certificates change (env PAAS_WEB_CONFIG_FILE).",
)
@click.option("--check", is_flag=True, help="Validate the config (and web config) and exit.")
@click.option("--once", is_flag=True, help="Poll every target once, print /metrics text, exit.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.version_option(__version__, prog_name="paas-exporter")
def main(  # noqa: PLR0917 - click passes every option as an argument
    config_path: Path,
    host: str | None,
    port: int | None,
    web_config_file: Path | None,
    check: bool,
    once: bool,
    log_level: str,
) -> None:
    """Export Harbor, Jenkins and Spinnaker state as Prometheus metrics."""
    honour_no_color()
    _configure_logging(log_level, to_stderr=once)
    try:
        config = load_config(config_path, check_files=check)
        web_config = load_web_config(web_config_file)
        poller = Poller(config)  # reads the delivery view's state file, if any
    except (ExporterConfigError, ConfigError) as error:
        click.echo(f"paas-exporter: {error}", err=True)
        sys.exit(2)
    if check:
        click.echo(f"{config_path}: ok, {len(config.targets)} target(s)")
        return
    if once:
        poller.start()
        # Every target's first poll and the delivery view's are waited for: the longest bound.
        views = [config.delivery] if config.delivery is not None else []
        deadline = max(t.poll_deadline for t in [*config.targets, *views])
        complete = poller.wait_for_polls(1, timeout=deadline + 5)
        poller.close()
        sys.stdout.buffer.write(poller.exposition.text)
        up = all(s.snapshot.up for s in poller.targets.values())
        sys.exit(0 if complete and up else 1)
    host = host or config.listen.host
    port = config.listen.port if port is None else port
    # Bound before the poller starts: a port in use or a host that does not resolve is the
    # user's to fix, and nothing has been started that would need stopping.
    try:
        server = MetricsServer(poller, host, port, web_config=web_config)
    except (OSError, UnicodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        click.echo(f"paas-exporter: cannot listen on {host}:{port}: {reason}", err=True)
        sys.exit(2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    poller.start()
    server.start()
    logging.getLogger("paas_exporter").info(
        "serving %d target(s) on %s",
        len(config.targets),
        describe_listening(host, server.port, web_config),
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        poller.close()
