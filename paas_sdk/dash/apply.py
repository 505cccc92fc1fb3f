"""Applying a catalog to a cluster: dashboards as ConfigMaps for Grafana's sidecar, rules as
PrometheusRule objects, by server-side apply under our own field manager.

Every object is first applied as a server dry run (`dryRun=All`, strict field validation), so a
missing CRD, a forbidden namespace, a schema error or a field another manager owns is found
before anything is written; only then are the objects that differ applied for real. An object the
dry run leaves as it is gets no write at all, so applying twice changes nothing.

Ownership is the catalog's owner (`catalog.yaml`), as with sync: what we apply carries the labels
`app.kubernetes.io/managed-by: paas-dash` and `paas-sdk.dev/owner: <owner>`; an existing object
without our owner's label is never overwritten, and `prune` deletes only objects that carry it.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from paas_sdk.dash.catalog import Dashboard, RuleFile
from paas_sdk.dash.kube import KubeSession, RequestRefusedError
from paas_sdk.dash.render import dashboard_configmap, prometheus_rule
from paas_sdk.errors import KubernetesError

__all__ = [
    "FIELD_MANAGER",
    "MANAGED_BY_LABEL",
    "OWNER_LABEL",
    "Applier",
    "ApplyOptions",
    "ApplyReport",
    "Change",
    "desired_objects",
]

FIELD_MANAGER = "paas-dash"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
OWNER_LABEL = "paas-sdk.dev/owner"
# fields the server sets on every object; they are bookkeeping, not content
_SERVER_FIELDS = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")


@dataclass(frozen=True)
class Kind:
    """Where objects of one kind live in the API."""

    kind: str
    prefix: str  # /api/v1 or /apis/<group>/<version>
    plural: str

    def collection(self, namespace: str) -> str:
        return f"{self.prefix}/namespaces/{namespace}/{self.plural}"

    def path(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


CONFIGMAP = Kind("ConfigMap", "/api/v1", "configmaps")
PROMETHEUS_RULE = Kind("PrometheusRule", "/apis/monitoring.coreos.com/v1", "prometheusrules")
KINDS = {k.kind: k for k in (CONFIGMAP, PROMETHEUS_RULE)}


@dataclass(frozen=True)
class ApplyOptions:
    namespace: str = "monitoring"
    owner: str = "paas-sdk"
    release: str = "kube-prometheus-stack"
    field_manager: str = FIELD_MANAGER
    force: bool = False

    @property
    def labels(self) -> dict[str, str]:
        return {MANAGED_BY_LABEL: FIELD_MANAGER, OWNER_LABEL: self.owner}


@dataclass
class Change:
    """What applying does to one object: create, configure, delete, or nothing (unchanged)."""

    action: str  # create | configure | unchanged | delete
    kind: str
    name: str
    diff: list[str] = field(default_factory=list)
    body: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


@dataclass
class ApplyReport:
    planned: list[Change] = field(default_factory=list)
    written: list[Change] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(c.action == action for c in self.planned)


def desired_objects(
    dashboards: list[Dashboard], rule_files: list[RuleFile], options: ApplyOptions
) -> list[dict[str, Any]]:
    """The catalog as API objects: a ConfigMap per dashboard, a PrometheusRule per rule file
    (named after its owner and file, so two catalogs' `alerts.yaml` do not collide)."""
    objects = [dashboard_configmap(b, options.namespace, options.labels) for b in dashboards]
    for rule_file in rule_files:
        stem = re.sub(r"[^a-z0-9-]+", "-", rule_file.path.stem.lower()).strip("-")
        objects.append(
            prometheus_rule(
                f"{options.owner.replace('_', '-').replace('.', '-')}-{stem}",
                options.namespace,
                options.release,
                rule_file.groups,
                options.labels,
            )
        )
    return objects


def _content(obj: dict[str, Any] | None) -> dict[str, Any]:
    """An object without the server's bookkeeping, for comparing and diffing."""
    if obj is None:
        return {}
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    return {
        **{k: v for k, v in obj.items() if k not in ("metadata", "status")},
        "metadata": metadata,
    }


def _view(obj: dict[str, Any]) -> list[str]:
    """YAML lines of an object, with dashboard JSON in ConfigMaps spread out to diff well."""
    shown = json.loads(json.dumps(obj))
    for key, value in (shown.get("data") or {}).items():
        if key.endswith(".json") and isinstance(value, str):
            with contextlib.suppress(ValueError):
                shown["data"][key] = json.loads(value)
    text = yaml.safe_dump(shown, sort_keys=True, allow_unicode=True, width=1000)
    return text.splitlines()


def _diff(current: dict[str, Any], wanted: dict[str, Any], ref: str) -> list[str]:
    return list(
        difflib.unified_diff(
            _view(current) if current else [],
            _view(wanted),
            fromfile=f"{ref} (cluster)",
            tofile=f"{ref} (catalog)",
            lineterm="",
            n=2,
        )
    )


class Applier:
    """Plans (by server dry run) and applies a catalog's objects to one namespace."""

    def __init__(self, session: KubeSession, options: ApplyOptions) -> None:
        self.session = session
        self.options = options

    # -- planning ------------------------------------------------------------------------------
    def plan(self, objects: list[dict[str, Any]], *, prune: bool = False) -> ApplyReport:
        """Dry-run every object; raise one `KubernetesError` for whatever would be refused."""
        self._check_served({KINDS[o["kind"]] for o in objects})
        report = ApplyReport()
        conflicts: list[str] = []
        for obj in objects:
            try:
                report.planned.append(self._plan_one(obj))
            except _ConflictError as conflict:
                conflicts.append(str(conflict))
        if conflicts:
            raise KubernetesError(
                "fields owned by another manager (nothing was written; --force takes them"
                " over):\n  " + "\n  ".join(conflicts),
                where=f"{self.session.server} namespace {self.options.namespace}",
            )
        if prune:
            wanted = {(o["kind"], o["metadata"]["name"]) for o in objects}
            report.planned.extend(self._prunable(set(KINDS.values()), wanted))
        return report

    def _check_served(self, needed: set[Kind]) -> None:
        """A kind whose CRD is not installed is one error before anything is sent."""
        for kind in sorted(needed - {CONFIGMAP}, key=lambda k: k.kind):
            try:
                served = self.session.request("GET", kind.prefix)
            except RequestRefusedError as error:
                if error.failure.code != 404:
                    raise self._explain(error, kind.prefix) from None
                served = {}
            if not any(r.get("name") == kind.plural for r in served.get("resources") or []):
                group = kind.prefix.removeprefix("/apis/")
                raise KubernetesError(
                    f"the {kind.kind} CRD ({group}) is not installed in this cluster; install"
                    " prometheus-operator's CRDs (kube-prometheus-stack does), or apply"
                    " dashboards only with --rules pointing at a directory without rule files",
                    where=self.session.server,
                )

    def _plan_one(self, obj: dict[str, Any]) -> Change:
        kind = KINDS[obj["kind"]]
        name = obj["metadata"]["name"]
        path = kind.path(self.options.namespace, name)
        ref = f"{kind.kind.lower()}/{name}"
        current = self._get(path)
        if current is not None:
            labels = (current.get("metadata") or {}).get("labels") or {}
            if labels.get(OWNER_LABEL) != self.options.owner:
                owner = labels.get(OWNER_LABEL)
                whose = f"catalog {owner!r}" if owner else "no paas-dash catalog"
                raise KubernetesError(
                    f"{ref} exists and belongs to {whose}, not {self.options.owner!r};"
                    " not overwritten (rename the dashboard uid or rule file, or delete it)",
                    where=f"{self.session.server} namespace {self.options.namespace}",
                )
        result = self._apply(path, obj, dry_run=True)
        before, after = _content(current), _content(result)
        if current is None:
            return Change("create", kind.kind, name, _diff({}, after, ref), obj)
        if before == after:
            return Change("unchanged", kind.kind, name)
        return Change("configure", kind.kind, name, _diff(before, after, ref), obj)

    def _prunable(self, kinds: set[Kind], wanted: set[tuple[str, str]]) -> list[Change]:
        selector = ",".join(f"{k}={v}" for k, v in self.options.labels.items())
        changes = []
        for kind in sorted(kinds, key=lambda k: k.kind):
            try:
                listed = self.session.request(
                    "GET",
                    kind.collection(self.options.namespace),
                    query=[("labelSelector", selector)],
                )
            except RequestRefusedError as error:
                if error.failure.code == 404 and kind is not CONFIGMAP:
                    continue  # the CRD is not installed, so none of ours can exist
                raise self._explain(error, kind.collection(self.options.namespace)) from None
            for item in listed.get("items") or []:
                name = item["metadata"]["name"]
                if (kind.kind, name) not in wanted:
                    ref = f"{kind.kind.lower()}/{name}"
                    diff = [f"--- {ref} (cluster)", f"+++ {ref} (deleted)"]
                    changes.append(Change("delete", kind.kind, name, diff))
        return changes

    # -- applying ------------------------------------------------------------------------------
    def apply(self, report: ApplyReport) -> None:
        """Write what `plan` found different; `report.written` grows as each write lands."""
        for change in report.planned:
            kind = KINDS[change.kind]
            path = kind.path(self.options.namespace, change.name)
            if change.action in ("create", "configure") and change.body is not None:
                self._apply(path, change.body, dry_run=False)
            elif change.action == "delete":
                try:
                    self.session.request("DELETE", path)
                except RequestRefusedError as error:
                    if error.failure.code != 404:
                        raise self._explain(error, path) from None
            else:
                continue
            report.written.append(change)

    # -- requests ------------------------------------------------------------------------------
    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            return self.session.request("GET", path)
        except RequestRefusedError as error:
            if error.failure.code == 404 and error.failure.reason == "NotFound":
                return None
            raise self._explain(error, path) from None

    def _apply(self, path: str, obj: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
        query = [("fieldManager", self.options.field_manager), ("fieldValidation", "Strict")]
        if self.options.force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        try:
            return self.session.request(
                "PATCH", path, obj, query=query, content_type="application/apply-patch+yaml"
            )
        except RequestRefusedError as error:
            if error.failure.code == 409 and error.failure.reason == "Conflict":
                raise _ConflictError(
                    f"{obj['kind'].lower()}/{obj['metadata']['name']}", error
                ) from None
            raise self._explain(error, path) from None

    def _explain(self, error: RequestRefusedError, path: str) -> KubernetesError:
        """One clear error for a refused request: forbidden, missing namespace, invalid."""
        failure = error.failure
        namespace = self.options.namespace
        where = f"{self.session.server} namespace {namespace}"
        if failure.code == 403:
            return KubernetesError(f"forbidden: {failure.message}", where=where)
        if failure.code == 404 and f'namespaces "{namespace}" not found' in failure.message:
            return KubernetesError(f"namespace {namespace!r} does not exist", where=where)
        if failure.code == 401:
            return KubernetesError(
                "unauthorized: the kubeconfig's credentials were refused", where=self.session.server
            )
        return KubernetesError(f"refused ({failure.code}): {failure.message}", where=path)


class _ConflictError(Exception):
    """A server-side apply conflict: which fields, owned by which manager."""

    def __init__(self, ref: str, error: RequestRefusedError) -> None:
        causes = [
            str(c.get("message") or c.get("field"))
            for c in error.failure.causes
            if c.get("type") == "FieldManagerConflict"
        ]
        super().__init__(f"{ref}: " + ("; ".join(causes) or error.failure.message))
