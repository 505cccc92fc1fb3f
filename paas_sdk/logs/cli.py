"""``paas-logs``: install the Elasticsearch template, index the Kafka log topic, tail the logs,
list and replay dead letters.

Credentials come from environment variables or files (a mounted Secret), never only from the
command line, and are masked in everything printed. Exit codes: 0 done, 1 a failure named in
one line on stderr, 2 a usage error.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from paas_sdk import __version__
from paas_sdk._cli import CONTEXT_SETTINGS, honour_no_color
from paas_sdk.errors import LogIndexingError, PaasError, connection_failure
from paas_sdk.logs._clients import (
    EsSettings,
    KafkaSettings,
    env,
    mask,
    read_properties,
    read_secret,
)

__all__ = ["main"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
F = TypeVar("F", bound=Callable[..., Any])
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _es_options(command: F) -> F:
    """--es and how to authenticate to it."""
    for option in reversed(
        [
            click.option(
                "--es",
                "es_url",
                envvar="PAAS_LOGS_ES",
                default="http://127.0.0.1:9200",
                show_default=True,
                help="Elasticsearch URL (env PAAS_LOGS_ES); a password in it is never shown.",
            ),
            click.option(
                "--es-api-key-file",
                type=_FILE,
                help="File holding an Elasticsearch API key (or env PAAS_LOGS_ES_API_KEY).",
            ),
            click.option(
                "--es-user",
                envvar="PAAS_LOGS_ES_USER",
                help="Basic-auth user (env PAAS_LOGS_ES_USER).",
            ),
            click.option(
                "--es-password-file",
                type=_FILE,
                help="File holding the basic-auth password (or env PAAS_LOGS_ES_PASSWORD).",
            ),
            click.option("--es-ca-file", type=_FILE, help="CA certificate(s) to verify TLS with."),
        ]
    ):
        command = option(command)
    return command


def _kafka_options(command: F) -> F:
    """--bootstrap and how to authenticate to Kafka."""
    for option in reversed(
        [
            click.option(
                "--bootstrap",
                envvar="PAAS_LOGS_KAFKA",
                required=True,
                help="Kafka bootstrap servers (env PAAS_LOGS_KAFKA).",
            ),
            click.option(
                "--kafka-security-protocol",
                type=click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
                help="Default: SASL_PLAINTEXT when a user is given, else PLAINTEXT.",
            ),
            click.option(
                "--kafka-sasl-mechanism",
                type=click.Choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
                help="SASL mechanism (librdkafka's default is GSSAPI).",
            ),
            click.option(
                "--kafka-user",
                envvar="PAAS_LOGS_KAFKA_USER",
                help="SASL user (env PAAS_LOGS_KAFKA_USER).",
            ),
            click.option(
                "--kafka-password-file",
                type=_FILE,
                help="File holding the SASL password (or env PAAS_LOGS_KAFKA_PASSWORD).",
            ),
            click.option("--kafka-ca-file", type=_FILE, help="CA certificate(s) for SSL."),
            click.option(
                "--kafka-config",
                type=_FILE,
                help="librdkafka properties file (key=value lines), e.g. ssl.* settings.",
            ),
        ]
    ):
        command = option(command)
    return command


def _es(options: dict[str, Any]) -> EsSettings:
    url = options.pop("es_url")
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected an http(s) URL, got {mask(url)!r}", param_hint="--es")
    with _failures():
        return EsSettings(
            url=url,
            api_key=read_secret(
                env("PAAS_LOGS_ES_API_KEY"), options.pop("es_api_key_file"), "the API key"
            ),
            username=options.pop("es_user"),
            password=read_secret(
                env("PAAS_LOGS_ES_PASSWORD"), options.pop("es_password_file"), "the password"
            ),
            ca_file=options.pop("es_ca_file"),
        )


def _kafka(options: dict[str, Any]) -> KafkaSettings:
    config_file = options.pop("kafka_config")
    with _failures():
        return KafkaSettings(
            bootstrap=options.pop("bootstrap"),
            security_protocol=options.pop("kafka_security_protocol"),
            sasl_mechanism=options.pop("kafka_sasl_mechanism"),
            username=options.pop("kafka_user"),
            password=read_secret(
                env("PAAS_LOGS_KAFKA_PASSWORD"), options.pop("kafka_password_file"), "the password"
            ),
            ca_file=options.pop("kafka_ca_file"),
            extra=read_properties(config_file) if config_file is not None else {},
        )


@contextmanager
def _failures(es: EsSettings | None = None, kafka: KafkaSettings | None = None) -> Iterator[None]:
    """A user sees one line naming what failed, secrets masked, never a traceback; exit 1."""
    from elasticsearch import ApiError, TransportError

    secrets = (es.secrets if es else ()) + (kafka.secrets if kafka else ())
    shown = es.shown if es else "Elasticsearch"

    def fail(text: str) -> None:
        click.echo(f"paas-logs: {mask(text, secrets)}", err=True)
        sys.exit(1)

    try:
        yield
    except PaasError as exc:
        fail(str(exc))
    except ApiError as exc:
        fail(f"{shown}: Elasticsearch answered {exc.meta.status}: {exc}")
    except TransportError as exc:
        fail(f"{shown}: cannot reach Elasticsearch: {connection_failure(exc)}")


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="paas-logs")
def main() -> None:
    """Elasticsearch side of the SDK's log pipeline (Kafka topic -> Elasticsearch)."""
    honour_no_color()
    from paas_sdk.logs._librdkafka import LIBRDKAFKA_LOGGER

    # the Kafka clients' own log lines: their errors are reported once, in paas-logs' words
    LIBRDKAFKA_LOGGER.addHandler(logging.NullHandler())
    LIBRDKAFKA_LOGGER.propagate = False


@main.command()
@_es_options
@click.option("--name", default="paas-logs", show_default=True, help="Template name.")
@click.option(
    "--index", default="paas-logs", show_default=True, help="Index (or data stream) name."
)
@click.option(
    "--retention",
    default="30d",
    show_default=True,
    help="Data retention where data-stream lifecycle exists.",
)
@click.option("--dry-run", is_flag=True, help="Print the template and change nothing.")
def setup(name: str, index: str, retention: str, dry_run: bool, **options: Any) -> None:
    """Install the index template (a data-stream template with lifecycle where supported)."""
    from elasticsearch import TransportError

    from paas_sdk.logs._elasticsearch import index_template, install_template

    es_settings = _es(options)
    with _failures(es_settings):
        es = es_settings.client(request_timeout=30, retry_on_timeout=True, max_retries=2)
        try:
            body = install_template(es, name, index, retention=retention, dry_run=dry_run)
        except TransportError as exc:
            if not dry_run:
                raise
            # nothing to change, so no server is needed: show what Elasticsearch 8+ would get
            body = index_template(index, data_stream=True, retention=retention)
            click.echo(
                f"{es_settings.shown}: not reachable ({connection_failure(exc)}): showing the "
                "data-stream template an Elasticsearch 8+ node gets",
                err=True,
            )
        kind = (
            "data-stream template"
            if "data_stream" in body
            else "index template (no data streams on this node)"
        )
        if dry_run:
            click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
            click.echo(f"dry run: would install {kind} {name!r} for {index}*", err=True)
        else:
            click.echo(f"installed {kind} {name!r} for {index}* (priority {body['priority']})")


@main.command()
@_es_options
@_kafka_options
@click.option("--topic", default="paas-logs", show_default=True)
@click.option("--index", default="paas-logs", show_default=True)
@click.option(
    "--group",
    default="paas-logs-indexer",
    show_default=True,
    help="Consumer group; indexers in one group share partitions.",
)
@click.option(
    "--dead-letter-topic",
    help="Where records Elasticsearch refuses go, with Kafka Connect's error headers "
    "[default: <topic>-dlq].",
)
@click.option(
    "--install-template",
    is_flag=True,
    help="Install the index template first when missing (else `index` refuses to start).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option(
    "--bulk-bytes",
    type=click.IntRange(1024, 100 * 1024 * 1024),
    default=10 * 1024 * 1024,
    show_default=True,
    help="Most bytes in one bulk request (Elasticsearch refuses over 100 MB by default).",
)
@click.option(
    "--max-records", type=click.IntRange(1), default=None, help="Stop after this many records."
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(0.1),
    default=None,
    help="Stop after this many seconds without a new record.",
)
@click.option(
    "--session-timeout",
    type=click.FloatRange(6, 300),
    default=10.0,
    show_default=True,
    help="Seconds before a dead indexer's partitions go to the others.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port (0: any free port, printed).",
)
@click.option(
    "--metrics-host", default="0.0.0.0", show_default=True, help="Address for --metrics-port."
)
@click.option(
    "--progress-every",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds between progress lines.",
)
@click.option("--quiet", is_flag=True, help="No progress lines.")
def index(
    *,
    topic: str,
    index: str,
    group: str,
    dead_letter_topic: str | None,
    install_template: bool,
    batch_size: int,
    bulk_bytes: int,
    max_records: int | None,
    idle_exit: float | None,
    session_timeout: float,
    metrics_port: int | None,
    metrics_host: str,
    progress_every: float,
    quiet: bool,
    **options: Any,
) -> None:
    """Consume the log topic and bulk-index it; offsets are committed once every record of a
    batch is indexed, already present, or dead-lettered."""
    from paas_sdk.logs._elasticsearch import check_template
    from paas_sdk.logs._elasticsearch import install_template as install
    from paas_sdk.logs._indexer import IndexProgress, LogIndexer

    es_settings, kafka_settings = _es(options), _kafka(options)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    last = {"at": time.monotonic(), "consumed": 0}

    def report(progress: IndexProgress) -> None:
        if quiet:
            return
        now = time.monotonic()
        rate = (progress.consumed - last["consumed"]) / max(now - last["at"], 1e-9)
        last.update(at=now, consumed=progress.consumed)
        line = (
            f"consumed {progress.consumed}: indexed {progress.indexed}, "
            f"already present {progress.already_present}, "
            f"dead-lettered {progress.dead_lettered_total}, retries {progress.retries}; "
            f"{rate:,.0f} records/s"
        )
        if progress.lag:
            line += f", lag {sum(progress.lag.values())}"
        if progress.waiting:
            line += f"; waiting for {progress.waiting}"
        click.echo(mask(line, es_settings.secrets + kafka_settings.secrets), err=True)

    with _failures(es_settings, kafka_settings):
        es = es_settings.client(request_timeout=30, retry_on_timeout=True, max_retries=2)
        es.cluster.health(timeout="5s")  # fail fast, with a clear message, when ES is unreachable
        problem = check_template(es, index)
        if problem is not None and install_template:
            install(es, index, index, retention="30d", dry_run=False)
            click.echo(f"installed the index template {index!r} for {index}*", err=True)
            problem = check_template(es, index)
        if problem is not None:
            raise LogIndexingError(
                f"{problem} (or pass --install-template)", where=f"{es_settings.shown}/{index}"
            )
        indexer = LogIndexer(
            es,
            kafka_settings,
            topic=topic,
            index=index,
            group=group,
            batch_size=batch_size,
            bulk_bytes=bulk_bytes,
            dead_letter_topic=dead_letter_topic,
            session_timeout=session_timeout,
            es_shown=es_settings.shown,
        )
        server = None
        if metrics_port is not None:
            from paas_sdk.logs._metrics import serve_indexer_metrics

            server = serve_indexer_metrics(indexer, metrics_host, metrics_port)
            click.echo(
                f"metrics on http://{metrics_host}:{server.server_address[1]}/metrics", err=True
            )
        try:
            progress = indexer.run(
                max_records=max_records,
                idle_exit=idle_exit,
                should_stop=lambda: stopping,
                on_progress=report,
                progress_every=progress_every,
            )
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
        report(progress)
        click.echo(
            f"done: {progress.consumed} records consumed, {progress.indexed} indexed, "
            f"{progress.already_present} already present, "
            f"{progress.dead_lettered_total} dead-lettered to {indexer.dead_letters.topic}"
        )


@main.command()
@_es_options
@click.option("--index", default="paas-logs", show_default=True)
@click.option("--service", help="Only this service.name.")
@click.option(
    "--level", type=click.Choice(_LEVELS, case_sensitive=False), help="This level and above."
)
@click.option("--text", help="Words that must appear in the message.")
@click.option("-n", "--lines", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the documents as JSON lines.")
def tail(
    *,
    index: str,
    service: str | None,
    level: str | None,
    text: str | None,
    lines: int,
    as_json: bool,
    **options: Any,
) -> None:
    """Show the most recent logs, oldest first."""
    filters: list[dict[str, Any]] = []
    if service:
        filters.append({"term": {"service.name": service}})
    if level:
        wanted = list(_LEVELS[_LEVELS.index(level.upper()) :])
        filters.append({"terms": {"log.level": wanted}})
    must: list[dict[str, Any]] = []
    if text:
        must.append({"match": {"message": {"query": text, "operator": "and"}}})
    es_settings = _es(options)
    with _failures(es_settings):
        es = es_settings.client(request_timeout=30, retry_on_timeout=True, max_retries=2)
        if not es.indices.exists(index=index):
            raise LogIndexingError("no such index; run `paas-logs index` first", where=index)
        response = es.search(
            index=index,
            query={"bool": {"filter": filters, "must": must}},
            sort=[{"@timestamp": {"order": "desc"}}],
            size=lines,
        )
        hits = response["hits"]["hits"]
        for hit in reversed(hits):
            doc = hit["_source"]
            if as_json:
                click.echo(orjson.dumps(doc).decode())
                continue
            log = doc.get("log", {})
            click.echo(
                f"{doc.get('@timestamp', '?')} {log.get('level', '?'):<8} "
                f"{doc.get('service', {}).get('name', '?')} {log.get('logger', '?')}: "
                f"{doc.get('message', '')}"
            )
            stack = doc.get("error", {}).get("stack_trace")
            if stack:
                click.echo("    " + stack.replace("\n", "\n    "))


@main.group()
def dlq() -> None:
    """The dead-letter topic: records Elasticsearch refused, with Kafka Connect's headers."""


_dlq_topic = click.option(
    "--topic", default="paas-logs-dlq", show_default=True, help="The dead-letter topic."
)
_timeout = click.option(
    "--timeout",
    type=click.FloatRange(1, 600),
    default=30.0,
    show_default=True,
    help="Seconds to wait for Kafka.",
)


@dlq.command("list")
@_kafka_options
@_dlq_topic
@_timeout
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter.")
def dlq_list(topic: str, timeout: float, as_json: bool, **options: Any) -> None:
    """Show every dead letter: where it came from, why, and the start of the record."""
    from paas_sdk.logs._deadletter import read_dead_letters

    kafka_settings = _kafka(options)
    with _failures(kafka=kafka_settings):
        letters = read_dead_letters(kafka_settings, topic, timeout=timeout)
        for letter in letters:
            if as_json:
                click.echo(orjson.dumps(letter.as_json()).decode())
                continue
            preview = (letter.value or b"").decode("utf-8", "replace").replace("\n", " ")
            click.echo(
                f"{letter.partition}:{letter.offset} from {letter.source}: {letter.reason}\n"
                f"    {preview[:200]}"
            )
        click.echo(f"{len(letters)} dead letters in {topic}", err=True)


@dlq.command("replay")
@_kafka_options
@_dlq_topic
@_timeout
@click.option("--to", help="Send to this topic instead of each record's source topic (its header).")
@click.option(
    "--group",
    default="paas-logs-dlq-replay",
    show_default=True,
    help="Remembers what was replayed, so that a second replay sends only newer dead letters.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; send nothing.")
def dlq_replay(
    topic: str, timeout: float, to: str | None, group: str, dry_run: bool, **options: Any
) -> None:
    """Send dead letters back to their source topic, once their cause is fixed."""
    from paas_sdk.logs._deadletter import replay_dead_letters

    kafka_settings = _kafka(options)
    with _failures(kafka=kafka_settings):
        letters = replay_dead_letters(
            kafka_settings, topic, group=group, to=to, dry_run=dry_run, timeout=timeout
        )
        for letter in letters:
            click.echo(f"{letter.partition}:{letter.offset} -> {to or letter.source}")
        verb = "would replay" if dry_run else "replayed"
        click.echo(f"{verb} {len(letters)} dead letters from {topic}", err=True)
