"""Pushing dashboards into Grafana with grafana-client: only what changed, in the right folder.

A sync reads each managed dashboard, compares it with the code after dropping `id` and
`version` (Grafana's bookkeeping, not content), and saves only the ones that differ, always with
`folderUid` (omitting it moves a dashboard to the root) and with the version it read, so an edit
made in Grafana meanwhile answers 412 instead of being overwritten silently.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from paas_sdk.dash.catalog import MANAGED_PREFIX, MANAGED_TAG, Dashboard, Folder
from paas_sdk.errors import GrafanaError

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
        return cls(url.rstrip("/"), SecretStr(token), timeout)


@dataclass
class Change:
    """One thing a sync does: create, update, move or delete a dashboard, or create a folder."""

    action: str  # create-folder | create | update | delete
    uid: str
    title: str
    folder_uid: str = ""
    diff: list[str] = field(default_factory=list)
    remote_version: int | None = None
    model: dict[str, Any] | None = None


@dataclass
class SyncReport:
    planned: list[Change] = field(default_factory=list)
    written: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failures: list[tuple[Change, str]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.written)


class Syncer:
    """Plans and applies a sync of `dashboards` to one Grafana."""

    def __init__(self, target: GrafanaTarget) -> None:
        from grafana_client.api import GrafanaApi

        self.target = target
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
                f"cannot reach Grafana: {type(error).__name__}", where=where
            ) from None
        except Exception as error:
            # niquests' connection errors are not always OSErrors: same message, no traceback.
            if "connect" in type(error).__name__.lower():
                raise GrafanaError(
                    f"cannot reach Grafana: {type(error).__name__}", where=where
                ) from None
            raise

    def check(self) -> str:
        """Reach Grafana with the token; returns its version."""
        settings = self._call("checking the token", self._api.health.check)
        return str(settings.get("version", "?")) if isinstance(settings, dict) else "?"

    def _remote(self, uid: str) -> dict[str, Any] | None:
        try:
            found = self._call(
                f"reading dashboard {uid}", lambda: self._api.dashboard.get_dashboard(uid)
            )
        except _ClientAnswerError as answer:
            if answer.status == 404:
                return None
            raise GrafanaError(
                f"reading dashboard {uid}: {answer}", where=self.target.url
            ) from None
        return found if isinstance(found, dict) else None

    def _folder_exists(self, uid: str) -> bool:
        try:
            self._call(f"reading folder {uid}", lambda: self._api.folder.get_folder(uid))
        except _ClientAnswerError as answer:
            if answer.status == 404:
                return False
            raise GrafanaError(f"reading folder {uid}: {answer}", where=self.target.url) from None
        return True

    # -- plan -----------------------------------------------------------------------------------
    def plan(self, dashboards: list[Dashboard], *, prune: bool = False) -> SyncReport:
        """What a sync would do, read-only."""
        self.check()
        report = SyncReport()
        folders: dict[str, Folder] = {d.folder.uid: d.folder for d in dashboards}
        for folder in folders.values():
            if not self._folder_exists(folder.uid):
                report.planned.append(Change("create-folder", folder.uid, folder.title))
        for board in dashboards:
            remote = self._remote(board.uid)
            if remote is None:
                # A new dashboard's whole JSON is no useful diff: say what and where instead.
                panels = len(board.model.get("panels") or [])
                diff = [f"+ new dashboard in folder {board.folder.uid} ({panels} panels)"]
                report.planned.append(
                    Change(
                        "create", board.uid, board.title, board.folder.uid, diff, None, board.model
                    )
                )
                continue
            remote_model = remote.get("dashboard") or {}
            remote_folder = str((remote.get("meta") or {}).get("folderUid") or "")
            before, after = normalise(remote_model), normalise(board.model)
            if before == after and remote_folder == board.folder.uid:
                report.unchanged.append(board.uid)
                continue
            diff = _diff(before, after, board.uid)
            if remote_folder != board.folder.uid:
                diff.insert(0, f"~ folder {remote_folder or '(root)'} -> {board.folder.uid}")
            report.planned.append(
                Change(
                    "update",
                    board.uid,
                    board.title,
                    board.folder.uid,
                    diff,
                    remote_model.get("version"),
                    board.model,
                )
            )
        if prune:
            report.planned.extend(self._prunable(dashboards, folders))
        return report

    def _prunable(
        self, dashboards: list[Dashboard], folders: dict[str, Folder]
    ) -> Iterable[Change]:
        # Only dashboards carrying both managed marks, in the folders this code owns: a user's
        # own directory never prunes the built-in dashboards, and nobody else's are touched.
        wanted = {d.uid for d in dashboards}
        hits = self._call(
            "searching managed dashboards",
            lambda: self._api.search.search_dashboards(
                tag=[MANAGED_TAG], type_="dash-db", folder_uids=sorted(folders), limit=5000
            ),
        )
        for hit in hits or []:
            uid = str(hit.get("uid", ""))
            if (
                uid.startswith(MANAGED_PREFIX)
                and uid not in wanted
                and MANAGED_TAG in (hit.get("tags") or [])
                and hit.get("folderUid") in folders
            ):
                yield Change("delete", uid, str(hit.get("title", "")), str(hit.get("folderUid")))

    # -- apply ----------------------------------------------------------------------------------
    def apply(self, report: SyncReport) -> SyncReport:
        """Carry out a plan. Conflicts and refusals are recorded per dashboard; an unreachable
        Grafana or a refused token stops the run, with `report.written` saying what was done."""
        for change in report.planned:
            try:
                self._apply_one(change)
            except _ClientAnswerError as answer:
                report.failures.append((change, _explain(change, answer)))
                continue
            report.written.append(change)
        return report

    def _apply_one(self, change: Change) -> None:
        api = self._api
        if change.action == "create-folder":
            try:
                self._call(
                    f"creating folder {change.uid}",
                    lambda: api.folder.create_folder(change.title, uid=change.uid),
                )
            except _ClientAnswerError as answer:
                if answer.status not in (409, 412):  # it exists already: fine
                    raise
            return
        if change.action == "delete":
            self._call(f"deleting {change.uid}", lambda: api.dashboard.delete_dashboard(change.uid))
            return
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
            f"(version {change.remote_version}); not written. Run sync again to replace "
            "that edit with the code, or copy the edit into the code first."
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


def _diff(before: str, after: str, uid: str) -> list[str]:
    return list(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            f"grafana/{uid}",
            f"code/{uid}",
            lineterm="",
            n=2,
        )
    )
