"""``paas-logs``: install the Elasticsearch template, index the Kafka log topic, tail the logs."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson

from paas_sdk.errors import LogIndexingError, PaasError

__all__ = ["main"]

_ES_HELP = "Elasticsearch URL (env PAAS_LOGS_ES)."
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _client(url: str) -> Any:
    from elasticsearch import Elasticsearch

    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"--es: expected an http(s) URL, got {url!r}")
    return Elasticsearch(url, request_timeout=30, retry_on_timeout=True, max_retries=2)


@contextmanager
def _failures(es_url: str) -> Iterator[None]:
    """A user sees one line naming what failed, never a traceback, and exit code 1."""
    from elasticsearch import ApiError, TransportError

    try:
        yield
    except PaasError as exc:
        click.echo(f"paas-logs: {exc}", err=True)
        sys.exit(1)
    except ApiError as exc:
        click.echo(
            f"paas-logs: {es_url}: Elasticsearch answered {exc.meta.status}: {exc}", err=True
        )
        sys.exit(1)
    except TransportError as exc:
        click.echo(f"paas-logs: {es_url}: cannot reach Elasticsearch: {exc.message}", err=True)
        sys.exit(1)


_es_option = click.option(
    "--es",
    "es_url",
    envvar="PAAS_LOGS_ES",
    default="http://127.0.0.1:9200",
    show_default=True,
    help=_ES_HELP,
)


@click.group()
def main() -> None:
    """Elasticsearch side of the SDK's log pipeline (Kafka topic -> Elasticsearch)."""


@main.command()
@_es_option
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
def setup(es_url: str, name: str, index: str, retention: str, dry_run: bool) -> None:
    """Install the index template (a data-stream template with lifecycle where supported)."""
    from paas_sdk.logs._elasticsearch import install_template

    with _failures(es_url):
        es = _client(es_url)
        body = install_template(es, name, f"{index}*", retention=retention, dry_run=dry_run)
        kind = (
            "data-stream template"
            if "data_stream" in body
            else "index template (no data streams on this node)"
        )
        if dry_run:
            click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
            click.echo(f"dry run: would install {kind} {name!r} for {index}*", err=True)
        else:
            click.echo(f"installed {kind} {name!r} for {index}*")


@main.command()
@_es_option
@click.option(
    "--bootstrap",
    envvar="PAAS_LOGS_KAFKA",
    required=True,
    help="Kafka bootstrap servers (env PAAS_LOGS_KAFKA).",
)
@click.option("--topic", default="paas-logs", show_default=True)
@click.option("--index", default="paas-logs", show_default=True)
@click.option(
    "--group",
    default="paas-logs-indexer",
    show_default=True,
    help="Consumer group; indexers in one group share partitions.",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=2000, show_default=True)
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
@click.option("--quiet", is_flag=True, help="No progress lines.")
def index(
    *,
    es_url: str,
    bootstrap: str,
    topic: str,
    index: str,
    group: str,
    batch_size: int,
    max_records: int | None,
    idle_exit: float | None,
    session_timeout: float,
    quiet: bool,
) -> None:
    """Consume the log topic and bulk-index it; offsets are committed after each accepted bulk."""
    from paas_sdk.logs._elasticsearch import IndexProgress, LogIndexer

    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def report(progress: IndexProgress) -> None:
        if not quiet:
            click.echo(
                f"indexed {progress.indexed}, already present {progress.already_present}, "
                f"kept as raw {progress.rejected}, {progress.rate:,.0f} records/s",
                err=True,
            )

    with _failures(es_url):
        es = _client(es_url)
        es.cluster.health(timeout="5s")  # fail fast, with a clear message, when ES is unreachable
        indexer = LogIndexer(
            es,
            bootstrap,
            topic=topic,
            index=index,
            group=group,
            batch_size=batch_size,
            session_timeout=session_timeout,
        )
        progress = indexer.run(
            max_records=max_records,
            idle_exit=idle_exit,
            should_stop=lambda: stopping,
            on_progress=report,
        )
        report(progress)
        click.echo(f"done: {progress.consumed} records consumed")


@main.command()
@_es_option
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
    es_url: str,
    index: str,
    service: str | None,
    level: str | None,
    text: str | None,
    lines: int,
    as_json: bool,
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
    with _failures(es_url):
        es = _client(es_url)
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
