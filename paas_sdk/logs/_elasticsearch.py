"""The log pipeline's index templates: what `paas-logs setup` installs and `index` checks for.

A template for a longer index name gets a higher priority (Elasticsearch refuses two templates
with overlapping patterns at one priority), so ``paas-logs-audit`` wins over ``paas-logs`` for
``paas-logs-audit*`` indices. Indices the template created carry ``_meta.managed_by`` in their
mapping: an index dynamically mapped from its first record does not, and is refused.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "MANAGED_BY",
    "check_template",
    "index_template",
    "install_template",
    "supports_data_streams",
]

MANAGED_BY = {"managed_by": "paas-logs"}
_BASE_PRIORITY = 200


def index_template(index: str, *, data_stream: bool, retention: str | None) -> dict[str, Any]:
    """The composable index template for ECS log documents in `index` (pattern ``index*``)."""
    text = {"type": "text"}
    template: dict[str, Any] = {
        "settings": {
            "index": {
                "codec": "best_compression",
                "mapping": {"total_fields": {"limit": 2000}, "ignore_malformed": True},
                "refresh_interval": "5s",
            }
        },
        "mappings": {
            "_meta": MANAGED_BY,
            "dynamic_templates": [
                {
                    "strings_as_keyword": {
                        "match_mapping_type": "string",
                        "mapping": {"type": "keyword", "ignore_above": 1024},
                    }
                }
            ],
            "properties": {
                "@timestamp": {"type": "date_nanos"},
                "message": text,
                "log": {
                    "properties": {"level": {"type": "keyword"}, "logger": {"type": "keyword"}}
                },
                "ecs": {"properties": {"version": {"type": "keyword"}}},
                "service": {
                    "properties": {
                        "name": {"type": "keyword"},
                        "version": {"type": "keyword"},
                        "environment": {"type": "keyword"},
                    }
                },
                "event": {
                    "properties": {
                        "id": {"type": "keyword"},
                        "dataset": {"type": "keyword"},
                        "original": {"type": "keyword", "index": False, "doc_values": False},
                    }
                },
                "error": {
                    "properties": {
                        "type": {"type": "keyword"},
                        "message": text,
                        "stack_trace": {"type": "text", "index": True},
                    }
                },
                "trace": {"properties": {"id": {"type": "keyword"}}},
                "span": {"properties": {"id": {"type": "keyword"}}},
                "process": {"properties": {"pid": {"type": "long"}}},
                "tags": {"type": "keyword"},
            },
        },
    }
    if data_stream and retention:
        template["lifecycle"] = {"data_retention": retention}
    body: dict[str, Any] = {
        "index_patterns": [f"{index}*"],
        # the more specific pattern wins where two overlap (equal priorities are refused)
        "priority": _BASE_PRIORITY + len(index),
        "template": template,
        "_meta": MANAGED_BY,
    }
    if data_stream:
        body["data_stream"] = {}
    return body


def supports_data_streams(es: Any) -> bool:
    """Whether the node has the data-stream module (a minimal distribution has not)."""
    from elasticsearch import ApiError

    try:
        es.indices.get_data_stream(name="*")
    except ApiError:
        return False
    return True


def install_template(
    es: Any, name: str, index: str, *, retention: str | None, dry_run: bool
) -> dict[str, Any]:
    """Install (or with `dry_run`, only build) the template; returns what was (to be) sent."""
    data_stream = supports_data_streams(es)
    body = index_template(index, data_stream=data_stream, retention=retention)
    if not dry_run:
        es.indices.put_index_template(name=name, **body)
    return body


def _matches(pattern: str, index: str) -> bool:
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), index) is not None


def check_template(es: Any, index: str) -> str | None:
    """Why `index` cannot be fed safely, or None: the template that would shape a new index
    must be one `setup` installed, and an existing index must have been made by it."""
    from elasticsearch import NotFoundError

    try:
        templates = es.indices.get_index_template()["index_templates"]
    except NotFoundError:
        templates = []
    matching = [
        t
        for t in templates
        if any(_matches(p, index) for p in t["index_template"]["index_patterns"])
    ]
    if not matching:
        return "no index template matches it; run `paas-logs setup --index ...` first"
    best = max(matching, key=lambda t: t["index_template"].get("priority", 0))
    if best["index_template"].get("_meta") != MANAGED_BY:
        return (
            f"its index template {best['name']!r} was not installed by `paas-logs setup` "
            "(it wins over any paas-logs template for this index)"
        )
    if es.indices.exists(index=index):
        mappings = es.indices.get_mapping(index=index)
        write_index = sorted(mappings)[-1]  # a data stream's newest backing index
        if mappings[write_index]["mappings"].get("_meta") != MANAGED_BY:
            return (
                f"it exists with a mapping the template did not make ({write_index}); "
                "delete or roll it over after `paas-logs setup`"
            )
    return None
