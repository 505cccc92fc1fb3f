"""Pushing dashboards into Grafana with grafana-client: only what changed, in the right folder,
never over somebody else's work.

A sync reads each dashboard of the catalog, compares it with the code after dropping `id` and
`version` (Grafana's bookkeeping, not content), and saves only the ones that differ, always with
`folderUid` (omitting it moves a dashboard to the root), with the message `paas-dash sync` and
with the version it read, so an edit made in Grafana meanwhile answers 412.

An edit made earlier (in the UI, by another tool) is found in Grafana's version history: when the
newest version was not saved by `paas-dash sync` and the dashboard's content differs from what the
last sync saved, the dashboard has drifted. Sync shows what changed and leaves it alone unless
told to overwrite drift. A dashboard another catalog owns, or one provisioned from files, is
never written either; prune deletes only dashboards tagged with this catalog's owner.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from paas_sdk.dash.catalog import Dashboard, Folder, owner_of, owner_tag
from paas_sdk.errors import DashboardError, GrafanaError, connection_failure

__all__ = ["Change", "GrafanaTarget", "SyncReport", "Syncer", "normalise"]

_NOISE = ("id", "version")
SAVE_MESSAGE = "paas-dash sync"


def normalise(model: dict[str, Any]) -> str:
    """A dashboard as text for comparing and diffing: sorted keys, no `id` or `version`."""
    clean = {k: v for k, v in model.items() if k not in _NOISE}
    return json.dumps(clean, indent=2, sort_keys=True)


@dataclass(frozen=True)
class GrafanaTarget:
    """Where to sync: the Grafana URL and its token (never shown in messages or reprs)."""

    url: str
    token: SecretStr
    timeout: float = 10.0

    @classmethod
    def of(cls, url: str, token: str, timeout: float = 10.0) -> GrafanaTarget:
        """Raises `DashboardError` when `url` is not an http(s) URL with a host."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DashboardError("not a Grafana URL: expected http(s)://host[:port]", where=url)
        return cls(url.rstrip("/"), SecretStr(token), timeout)


@dataclass
class Change:
    """One thing a sync does: create, update or delete a dashboard, create or rename a folder."""

    action: str  # create-folder | update-folder | create | update | delete
    uid: str
    title: str
    folder_uid: str = ""
    diff: list[str] = field(default_factory=list)
    remote_version: int | None = None
    model: dict[str, Any] | None = None


@dataclass
class SyncReport:
    """What a sync planned, wrote, found unchanged, refused up front, and failed to write."""

    planned: list[Change] = field(default_factory=list)
    written: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[Change, str]] = field(default_factory=list)
    failures: list[tuple[Change, str]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.written)

    @property
    def not_written(self) -> list[tuple[Change, str]]:
        return self.refused + self.failures


@dataclass(frozen=True)
class _Drift:
    """Saves made in Grafana since the last sync, and what they changed."""

    edits: list[str]
    diff: list[str]


class Syncer:
    """Plans and applies a sync of one catalog's dashboards to one Grafana.

    `overwrite_drift` lets a sync replace edits made in Grafana since the last sync; without it
    they are reported and left alone.
    """

    def __init__(self, target: GrafanaTarget, *, overwrite_drift: bool = False) -> None:
        from grafana_client.api import GrafanaApi

        self.target = target
        self.overwrite_drift = overwrite_drift
        self._api = GrafanaApi.from_url(
            target.url, credential=target.token.get_secret_value(), timeout=target.timeout
        )

    # -- talking to Grafana ---------------------------------------------------------------------
    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """One API call; every failure becomes a GrafanaError saying what and where."""
        from grafana_client.client import (
            GrafanaClientError,
            GrafanaServerError,
            GrafanaTimeoutError,
            GrafanaUnauthorizedError,
        )

        where = self.target.url
        try:
            return call()
        except GrafanaUnauthorizedError:
            raise GrafanaError(
                "401 unauthorized: the token (GRAFANA_TOKEN or --token) was refused", where=where
            ) from None
        except GrafanaTimeoutError:
            raise GrafanaError(
                f"{what}: no answer within {self.target.timeout}s", where=where
            ) from None
        except GrafanaServerError as error:
            raise GrafanaError(f"{what}: server error {error.status_code}", where=where) from None
        except GrafanaClientError as error:
            raise _ClientAnswerError(error.status_code, error.response) from None
        except OSError as error:  # connection refused is not wrapped by grafana-client
            raise GrafanaError(
                f"cannot reach Grafana: {connection_failure(error)}", where=where
            ) from None
        except Exception as error:
            # niquests' connection errors are not always OSErrors: same message, no traceback.
            if "connect" in type(error).__name__.lower():
                raise GrafanaError(
                    f"cannot reach Grafana: {connection_failure(error)}", where=where
                ) from None
            raise

    def check(self) -> str:
        """Reach Grafana with the token; returns its version."""
        settings = self._call("checking the token", self._api.health.check)
        return str(settings.get("version", "?")) if isinstance(settings, dict) else "?"

    def _read(self, what: str, call: Callable[[], Any]) -> Any:
        """A read that may find nothing: None on 404, any other refusal is an error."""
        try:
            return self._call(what, call)
        except _ClientAnswerError as answer:
            if answer.status == 404:
                return None
            raise GrafanaError(f"{what}: {answer}", where=self.target.url) from None

    def _remote(self, uid: str) -> dict[str, Any] | None:
        found = self._read(
            f"reading dashboard {uid}", lambda: self._api.dashboard.get_dashboard(uid)
        )
        return found if isinstance(found, dict) else None

    def _folder(self, uid: str) -> dict[str, Any] | None:
        found = self._read(f"reading folder {uid}", lambda: self._api.folder.get_folder(uid))
        return found if isinstance(found, dict) else None

    # -- drift ----------------------------------------------------------------------------------
    def _versions(self, uid: str) -> list[dict[str, Any]]:
        """The version history, newest first (a list before Grafana 11.5, then an object)."""
        versions = self._api.dashboard_versions
        answer = self._read(
            f"reading the versions of {uid}", lambda: versions.get_dashboard_versions_by_uid(uid)
        )
        rows = answer.get("versions") if isinstance(answer, dict) else answer
        return sorted(
            (r for r in rows or [] if isinstance(r, dict)),
            key=lambda r: int(r.get("version") or 0),
            reverse=True,
        )

    def _version(self, uid: str, number: int) -> dict[str, Any]:
        versions = self._api.dashboard_versions
        found = self._read(
            f"reading version {number} of {uid}",
            lambda: versions.get_dashboard_version_by_uid(uid, number),
        )
        return found if isinstance(found, dict) else {}

    def _ours(self, uid: str, row: dict[str, Any]) -> bool:
        message = str(row.get("message") or "")
        if not row.get("parentVersion"):
            # The list calls every first version "Initial save"; the version itself keeps the
            # message it was saved with.
            message = str(self._version(uid, int(row.get("version") or 0)).get("message") or "")
        return message.startswith(SAVE_MESSAGE)

    def _drift(self, uid: str, current: dict[str, Any]) -> _Drift | None:
        """Edits saved since the last sync that changed the dashboard, or None."""
        rows = self._versions(uid)
        if not rows or self._ours(uid, rows[0]):
            return None
        edits: list[str] = []
        for row in rows:
            if self._ours(uid, row):
                base = row.get("data")
                if not isinstance(base, dict):
                    base = self._version(uid, int(row.get("version") or 0)).get("data") or {}
                before, after = normalise(base), normalise(current)
                if before == after:
                    return None  # saved again (moved, say) but the content is what we wrote
                label = f"paas-dash sync (version {row.get('version')})"
                return _Drift(edits, _diff(before, after, label, "grafana now"))
            note = f" {row['message']!r}" if row.get("message") else ""
            edits.append(
                f"version {row.get('version')} by {row.get('createdBy') or '?'}"
                f" at {row.get('created') or '?'}{note}"
            )
        edits.append("no version in the kept history was saved by paas-dash sync")
        return _Drift(edits, [])

    # -- plan -----------------------------------------------------------------------------------
    def plan(self, dashboards: list[Dashboard], *, prune: bool = False) -> SyncReport:
        """What a sync would do, read-only."""
        owner = _catalog_owner(dashboards)
        self.check()
        report = SyncReport()
        folders: dict[str, Folder] = {d.folder.uid: d.folder for d in dashboards}
        for folder in folders.values():
            remote_folder = self._folder(folder.uid)
            if remote_folder is None:
                report.planned.append(Change("create-folder", folder.uid, folder.title))
            elif remote_folder.get("title") != folder.title:
                diff = [f"~ title {remote_folder.get('title')!r} -> {folder.title!r}"]
                version = remote_folder.get("version")
                report.planned.append(
                    Change("update-folder", folder.uid, folder.title, "", diff, version)
                )
        for board in dashboards:
            self._plan_dashboard(board, owner, report)
        if prune:
            report.planned.extend(self._prunable(dashboards, owner))
        return report

    def _plan_dashboard(self, board: Dashboard, owner: str, report: SyncReport) -> None:
        remote = self._remote(board.uid)
        change = Change("create", board.uid, board.title, board.folder.uid, [], None, board.model)
        if remote is None:
            # A new dashboard's whole JSON is no useful diff: say what and where instead.
            panels = len(board.model.get("panels") or [])
            change.diff = [f"+ new dashboard in folder {board.folder.uid} ({panels} panels)"]
            report.planned.append(change)
            return
        remote_model = remote.get("dashboard") or {}
        meta = remote.get("meta") or {}
        remote_folder = str(meta.get("folderUid") or "")
        before, after = normalise(remote_model), normalise(board.model)
        if before == after and remote_folder == board.folder.uid:
            report.unchanged.append(board.uid)
            return
        change.action, change.remote_version = "update", remote_model.get("version")
        change.diff = _diff(before, after, f"grafana/{board.uid}", f"code/{board.uid}")
        if remote_folder != board.folder.uid:
            change.diff.insert(0, f"~ folder {remote_folder or '(root)'} -> {board.folder.uid}")
        other = owner_of(remote_model.get("tags") or [])
        if other is not None and other != owner:
            report.refused.append(
                (change, f"{board.uid}: owned by catalog {other!r}, not {owner!r}; not written. "
                 "Give one of the two dashboards another uid.")
            )  # fmt: skip
            return
        if meta.get("provisioned"):
            source = meta.get("provisionedExternalId") or "a provisioning file"
            report.refused.append(
                (change, f"{board.uid}: provisioned from {source}; Grafana refuses API saves to "
                 "it. Change that file, or remove it from provisioning so sync can manage it.")
            )  # fmt: skip
            return
        drift = self._drift(board.uid, remote_model)
        if drift is not None:
            change.diff = [f"! edited in Grafana: {edit}" for edit in drift.edits] + (
                drift.diff or change.diff
            )
            if not self.overwrite_drift:
                report.refused.append(
                    (change, f"{board.uid}: edited in Grafana since the last sync "
                     f"({drift.edits[0]}); not written. Copy the edit into the code, or run "
                     "sync with --overwrite-drift to replace it.")
                )  # fmt: skip
                return
        report.planned.append(change)

    def _prunable(self, dashboards: list[Dashboard], owner: str) -> Iterable[Change]:
        # Only dashboards carrying this catalog's owner tag, the one mark load_dashboards puts
        # on every dashboard of a catalog however it was built: another team's, the built-in
        # ones and hand-made ones are never touched, whatever folder they share.
        wanted = {d.uid for d in dashboards}
        mine = owner_tag(owner)
        hits = self._call(
            "searching this catalog's dashboards",
            lambda: self._api.search.search_dashboards(tag=[mine], type_="dash-db", limit=5000),
        )
        for hit in hits or []:
            uid = str(hit.get("uid", ""))
            if uid not in wanted and mine in (hit.get("tags") or []):
                yield Change("delete", uid, str(hit.get("title", "")), str(hit.get("folderUid")))

    # -- apply ----------------------------------------------------------------------------------
    def apply(self, report: SyncReport) -> SyncReport:
        """Carry out a plan. Conflicts and refusals are recorded per change; an unreachable
        Grafana or a refused token stops the run, with `report.written` saying what was done."""
        missing_folders: set[str] = set()
        for change in report.planned:
            if change.folder_uid in missing_folders and change.action in ("create", "update"):
                report.failures.append(
                    (change, f"{change.uid}: its folder {change.folder_uid} could not be "
                     "created (see above); not written.")
                )  # fmt: skip
                continue
            try:
                wrote = self._apply_one(change)
            except _ClientAnswerError as answer:
                if change.action == "create-folder":
                    missing_folders.add(change.uid)
                report.failures.append((change, self._explain(change, answer)))
                continue
            if wrote:
                report.written.append(change)
            else:
                report.unchanged.append(change.uid)
        return report

    def _apply_one(self, change: Change) -> bool:
        """Carry out one change; False when Grafana already had it (nothing was written)."""
        api = self._api
        if change.action == "create-folder":
            try:
                self._call(
                    f"creating folder {change.uid}",
                    lambda: api.folder.create_folder(change.title, uid=change.uid),
                )
            except _ClientAnswerError as answer:
                # 409 (412 on some versions): the uid exists, or, before Grafana 11.3, the title
                # is taken by another folder. Only reading the folder back tells which.
                if answer.status not in (409, 412) or self._folder(change.uid) is None:
                    raise
                return False
            return True
        if change.action == "update-folder":
            self._call(
                f"renaming folder {change.uid}",
                lambda: api.folder.update_folder(
                    change.uid, title=change.title, version=change.remote_version
                ),
            )
            return True
        if change.action == "delete":
            self._call(f"deleting {change.uid}", lambda: api.dashboard.delete_dashboard(change.uid))
            return True
        assert change.model is not None
        model = {**change.model, "id": None, "uid": change.uid}
        if change.remote_version is not None:
            model["version"] = change.remote_version
        payload = {
            "dashboard": model,
            "folderUid": change.folder_uid,
            "overwrite": False,
            "message": SAVE_MESSAGE,
        }
        self._call(f"saving {change.uid}", lambda: api.dashboard.update_dashboard(payload))
        return True

    def _explain(self, change: Change, answer: _ClientAnswerError) -> str:
        if change.action in ("create-folder", "update-folder") and answer.status in (409, 412):
            holder = self._folder_titled(change.title, change.uid)
            if holder is not None:
                return (
                    f"folder {change.uid}: its title {change.title!r} is taken by folder "
                    f"{holder} (Grafana before 11.3 wants folder titles unique); not written. "
                    "Change the title in folders.yaml, or rename the other folder."
                )
        return _explain(change, answer)

    def _folder_titled(self, title: str, uid: str) -> str | None:
        folders = self._read("listing folders", self._api.folder.get_all_folders) or []
        return next(
            (
                str(f.get("uid"))
                for f in folders
                if isinstance(f, dict)
                and f.get("uid") != uid
                and str(f.get("title", "")).lower() == title.lower()
            ),
            None,
        )


def _catalog_owner(dashboards: list[Dashboard]) -> str:
    owners = {d.owner for d in dashboards}
    if None in owners or len(owners) != 1:
        where = str(dashboards[0].source.parent) if dashboards else None
        raise DashboardError(
            "sync needs the catalog's owner: add catalog.yaml with `owner: <team>` (the tag "
            "that tells this catalog's dashboards from other teams' in a shared Grafana)",
            where=where,
        )
    return str(owners.pop())


class _ClientAnswerError(Exception):
    """A 4xx answer other than 401, for the caller to explain in context."""

    def __init__(self, status: int, response: Any) -> None:
        self.status = status
        self.response = response
        message = response.get("message") if isinstance(response, dict) else response
        super().__init__(f"{status} {message}")


def _explain(change: Change, answer: _ClientAnswerError) -> str:  # noqa: PLR0911 - one per answer
    response = answer.response if isinstance(answer.response, dict) else {}
    status, message = response.get("status"), str(response.get("message", answer.response))
    if answer.status == 412 and status == "version-mismatch":
        return (
            f"{change.uid}: changed in Grafana by someone else after it was read "
            f"(version {change.remote_version}); not written. Run sync again to see that edit."
        )
    if answer.status == 412 and status == "name-exists":
        return (
            f"{change.uid}: another dashboard titled {change.title!r} already exists in folder "
            f"{change.folder_uid}; not written. Rename one of them."
        )
    if answer.status == 412 and status == "plugin-dashboard":
        return f"{change.uid}: belongs to a plugin; not written ({message})."
    if answer.status == 400 and "same uid already exists" in message:
        return (
            f"{change.uid}: Grafana says another dashboard already has this uid (a stale `id` "
            "from an export of another Grafana); not written. Remove `id` from the model."
        )
    if answer.status == 400:
        return f"{change.uid}: Grafana refused the dashboard: {message}; not written."
    if answer.status == 403:
        return f"{change.uid}: the token may not write here (403 {message}); not written."
    return f"{change.uid}: {answer.status} {message}; not written."


def _diff(before: str, after: str, before_name: str, after_name: str) -> list[str]:
    return list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), before_name, after_name, lineterm="", n=2
        )
    )
