"""A Grafana HTTP API double over real HTTP: dashboards, versions, folders, search, health, auth.

It answers as Grafana does (reference/grafana.md; grafana/grafana `pkg/api/dashboard.go`,
`pkg/api/folder.go`, `pkg/services/dashboards/errors.go`): versions start at 1 and grow by one per
save, a stale `version` without `overwrite` is a 412 `version-mismatch`, an `id` and a `uid`
naming two different dashboards is the stale-id 400, omitting `folderUid` moves a dashboard to the
root, an unknown folder is a 400, and every `/api` call but `/api/health` wants the bearer token
(401). Every save is kept in the version history with its message and author
(`GET /api/dashboards/uid/<uid>/versions`), edits in the UI included; before Grafana 11.3 a folder
title must be unique (409); file-provisioned dashboards refuse API saves and deletes.
`writes` counts the requests that changed something, so a test can assert a sync wrote nothing.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from paas_sdk._http_server import BackgroundHTTPServer

__all__ = ["GrafanaDouble"]

_UID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_UID_MAX = 40
_MESSAGE_MAX = 500
GRAFANA_VERSION = "11.6.0"
# What the double calls the token's owner (a service account) and a person editing in the UI.
API_USER = "sa-paas-dash"
UI_USER = "admin"
# `[dashboards] versions_to_keep` (pkg/setting/setting.go): older versions are cleaned up.
VERSIONS_TO_KEEP = 20


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


@dataclass
class _Version:
    """One row of Grafana's `dashboard_version` table (pkg/services/dashboardversion/model.go)."""

    id: int
    version: int
    parent_version: int
    created: str
    created_by: str
    message: str
    data: dict[str, Any]


@dataclass
class _StoredDashboard:
    id: int
    uid: str
    version: int
    folder_uid: str
    model: dict[str, Any]
    provisioned: bool = False
    plugin_id: str = ""
    provisioned_path: str = ""
    allow_ui_updates: bool = False
    versions: list[_Version] = field(default_factory=list)


@dataclass
class _StoredFolder:
    id: int
    uid: str
    title: str
    version: int = 1
    parent_uid: str | None = None


class _AnswerError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass
class _State:
    dashboards: dict[str, _StoredDashboard] = field(default_factory=dict)
    folders: dict[str, _StoredFolder] = field(default_factory=dict)
    next_id: int = 1
    next_version_id: int = 1


class GrafanaDouble:
    """Grafana's dashboard, folder, search and health API on a loopback port.

    `GrafanaDouble(token="t").start()`; `.url`; `.writes`; `.requests`; `.edit(uid, title=...)`
    plays someone else saving the dashboard in the UI; `.provision(...)` adds a file-provisioned
    dashboard that the API refuses to overwrite.
    """

    def __init__(
        self,
        *,
        token: str = "test-token",  # noqa: S107 - the double's well-known test token
        port: int = 0,
        version: str = GRAFANA_VERSION,
    ) -> None:
        self.token = token
        self.version = version
        self.writes = 0
        self.requests = 0
        # Fault knob: once this many writes succeeded, every write answers 500 (a Grafana that
        # falls over in the middle of a sync).
        self.fail_writes_after: int | None = None
        self._state = _State()
        self._lock = threading.Lock()
        self._http = BackgroundHTTPServer(
            self._handle,
            name="paas-grafana-double",
            port=port,
            methods=("GET", "POST", "PUT", "DELETE"),
            poll_interval=0.05,
        )

    # -- life -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test hooks -----------------------------------------------------------------------------
    @property
    def unique_folder_titles(self) -> bool:
        """Before Grafana 11.3 two folders may not share a title (`ErrFolderSameNameExists`)."""
        return _version_tuple(self.version) < (11, 3)

    def edit(self, uid: str, *, message: str = "", user: str = UI_USER, **changes: Any) -> int:
        """Someone saves dashboard `uid` in the UI with `changes` (and the note typed into the save
        dialog, usually none): a new version in the history; returns its number."""
        with self._lock:
            stored = self._state.dashboards[uid]
            stored.model.update(changes)
            stored.version += 1
            self._record_version(stored, message, user)
            return stored.version

    def provision(
        self,
        uid: str,
        title: str,
        folder_uid: str = "",
        *,
        path: str = "",
        allow_ui_updates: bool = False,
    ) -> None:
        """Add a dashboard as file provisioning would (`path` relative to the provider's
        directory): without `allowUiUpdates` the API refuses to save over it or delete it."""
        with self._lock:
            stored = self._store_new(
                {"uid": uid, "title": title}, folder_uid, provisioned=True, plugin_id=""
            )
            stored.provisioned_path = path or f"{uid}.json"
            stored.allow_ui_updates = allow_ui_updates
            self._record_version(stored, "", "Anonymous")

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        """The stored model of `uid` (with id, uid and version), or None."""
        with self._lock:
            stored = self._state.dashboards.get(uid)
            return None if stored is None else self._full_model(stored)

    def folder_of(self, uid: str) -> str:
        with self._lock:
            return self._state.dashboards[uid].folder_uid

    # -- HTTP -----------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        params = parse_qs(split.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            status, body = 200, self._dispatch(method, split.path, params, raw, handler.headers)
        except _AnswerError as answer:
            status, body = answer.status, answer.body
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _dispatch(
        self, method: str, path: str, params: dict[str, list[str]], raw: bytes, headers: Any
    ) -> Any:
        with self._lock:
            self.requests += 1
        if path == "/api/health" and method == "GET":
            return {"commit": "double", "database": "ok", "version": self.version}
        if headers.get("Authorization") != f"Bearer {self.token}":
            raise _AnswerError(401, {"message": "Unauthorized"})
        if (
            method != "GET"
            and self.fail_writes_after is not None
            and self.writes >= self.fail_writes_after
        ):
            raise _AnswerError(500, {"message": "database is locked"})
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise _AnswerError(400, {"message": "bad request data"}) from None
        with self._lock:
            return self._route(method, path, params, body)

    def _route(  # noqa: PLR0911 - one return per endpoint reads like the API table
        self, method: str, path: str, params: dict[str, list[str]], body: Any
    ) -> Any:
        if path == "/api/frontend/settings" and method == "GET":
            return {"buildInfo": {"version": self.version, "commit": "double"}}
        if path == "/api/dashboards/db" and method == "POST":
            return self._save_dashboard(body)
        match = re.fullmatch(r"/api/dashboards/uid/([^/]+)/versions(?:/([^/]+))?", path)
        if match and method == "GET":
            if match[2] is None:
                return self._list_versions(match[1], params)
            return self._get_version(match[1], match[2])
        match = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if match and method == "GET":
            return self._get_dashboard(match[1])
        if match and method == "DELETE":
            return self._delete_dashboard(match[1])
        if path == "/api/search" and method == "GET":
            return self._search(params)
        if path == "/api/folders" and method == "GET":
            return [self._folder_json(f) for f in self._state.folders.values()]
        if path == "/api/folders" and method == "POST":
            return self._create_folder(body)
        match = re.fullmatch(r"/api/folders/([^/]+)", path)
        if match and method == "GET":
            return self._folder_json(self._folder(match[1]))
        if match and method == "PUT":
            return self._update_folder(match[1], body)
        if match and method == "DELETE":
            return self._delete_folder(match[1])
        raise _AnswerError(404, {"message": "Not found"})

    # -- dashboards -----------------------------------------------------------------------------
    def _full_model(self, stored: _StoredDashboard) -> dict[str, Any]:
        return {**stored.model, "id": stored.id, "uid": stored.uid, "version": stored.version}

    def _url(self, stored: _StoredDashboard) -> str:
        return f"/d/{stored.uid}/{_slug(str(stored.model.get('title', '')))}"

    def _store_new(
        self, model: dict[str, Any], folder_uid: str, *, provisioned: bool, plugin_id: str
    ) -> _StoredDashboard:
        uid = str(model.get("uid") or f"gen{self._state.next_id:08d}")
        stored = _StoredDashboard(
            self._state.next_id, uid, 1, folder_uid, dict(model), provisioned, plugin_id
        )
        stored.model.pop("id", None)
        stored.model.pop("version", None)
        stored.model["uid"] = uid
        self._state.next_id += 1
        self._state.dashboards[uid] = stored
        return stored

    def _save_dashboard(self, body: Any) -> dict[str, Any]:  # noqa: PLR0912 - Grafana's checks, in its order
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            raise _AnswerError(400, {"message": "bad request data"})
        model: dict[str, Any] = body["dashboard"]
        title = str(model.get("title") or "").strip()
        if not title:
            raise _AnswerError(
                400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
            )
        uid = model.get("uid")
        if uid:
            if len(uid) > _UID_MAX:
                raise _AnswerError(400, {"message": "uid too long, max 40 characters"})
            if not _UID_RE.match(uid):
                raise _AnswerError(400, {"message": "uid contains illegal characters"})
        if len(str(body.get("message") or "")) > _MESSAGE_MAX:
            raise _AnswerError(400, {"message": "message too long, max 500 characters"})
        folder_uid = str(body.get("folderUid") or "")
        if folder_uid and folder_uid not in self._state.folders:
            raise _AnswerError(400, {"message": "folder not found"})
        overwrite = bool(body.get("overwrite"))
        by_id: _StoredDashboard | None = None
        if model.get("id") is not None:
            by_id = next((d for d in self._state.dashboards.values() if d.id == model["id"]), None)
            if by_id is None:
                raise _AnswerError(404, {"message": "Dashboard not found", "status": "not-found"})
        existing = self._state.dashboards.get(uid) if uid else None
        if by_id is not None and existing is not None and by_id is not existing:
            raise _AnswerError(400, {"message": "A dashboard with the same uid already exists"})
        existing = existing or by_id
        same_name = next(
            (
                d
                for d in self._state.dashboards.values()
                if d is not existing
                and d.folder_uid == folder_uid
                and str(d.model.get("title", "")).lower() == title.lower()
            ),
            None,
        )
        if same_name is not None and not overwrite:
            raise _AnswerError(
                412,
                {
                    "status": "name-exists",
                    "message": "A dashboard with the same name in the folder already exists",
                },
            )
        if existing is not None:
            # postDashboard validates provisioning only when the provider forbids UI updates.
            if existing.provisioned and not existing.allow_ui_updates:
                raise _AnswerError(400, {"message": "Cannot save provisioned dashboard"})
            if existing.plugin_id and not overwrite:
                raise _AnswerError(
                    412,
                    {
                        "status": "plugin-dashboard",
                        "message": f"The dashboard belongs to plugin {existing.plugin_id}.",
                    },
                )
            if model.get("version") != existing.version and not overwrite:
                raise _AnswerError(
                    412,
                    {
                        "status": "version-mismatch",
                        "message": "The dashboard has been changed by someone else",
                    },
                )
            existing.model = {k: v for k, v in model.items() if k not in ("id", "version")}
            existing.model["uid"] = existing.uid
            existing.version += 1
            existing.folder_uid = folder_uid  # omitted folderUid: back to the root, as Grafana
            stored = existing
        else:
            stored = self._store_new(model, folder_uid, provisioned=False, plugin_id="")
        self._record_version(stored, str(body.get("message") or ""), API_USER)
        self.writes += 1
        return {
            "id": stored.id,
            "uid": stored.uid,
            "url": self._url(stored),
            "status": "success",
            "version": stored.version,
            "slug": _slug(title),
        }

    def _record_version(self, stored: _StoredDashboard, message: str, user: str) -> None:
        """Every save adds a row to the version history (pkg/services/dashboards/database:
        saveDashboard), its parent the version it replaced (0 for the first)."""
        state = self._state
        stored.versions.append(
            _Version(
                state.next_version_id,
                stored.version,
                stored.versions[-1].version if stored.versions else 0,
                datetime.now(UTC).isoformat(timespec="seconds"),
                user,
                message,
                json.loads(json.dumps(self._full_model(stored))),
            )
        )
        state.next_version_id += 1
        # The cleanup job keeps the newest `versions_to_keep` (dashverimpl.DeleteExpired).
        del stored.versions[:-VERSIONS_TO_KEEP]

    def _version_json(
        self, stored: _StoredDashboard, row: _Version, message: str
    ) -> dict[str, Any]:
        return {
            "id": row.id, "dashboardId": stored.id, "uid": stored.uid,
            "parentVersion": row.parent_version, "restoredFrom": 0, "version": row.version,
            "created": row.created, "createdBy": row.created_by, "message": message,
            "data": row.data,
        }  # fmt: skip

    def _list_versions(self, uid: str, params: dict[str, list[str]]) -> Any:
        """pkg/api/dashboard.go GetDashboardVersions: newest first, `limit` (default 1000 in
        dashverimpl.List) and `start` (an offset); the first version's message always reads
        "Initial save". Grafana 11.4 answered a bare list, 11.6 `{continueToken, versions}`
        (grafana/grafana#104556); the double switches at 11.5."""
        stored = self._state.dashboards.get(uid)
        if stored is None:
            raise _AnswerError(404, {"message": "Dashboard not found"})
        limit = int(params.get("limit", ["0"])[-1] or 0) or 1000
        start = int(params.get("start", ["0"])[-1] or 0)
        rows = sorted(stored.versions, key=lambda v: v.version, reverse=True)[start : start + limit]
        listed = [
            self._version_json(stored, v, "Initial save" if v.parent_version == 0 else v.message)
            for v in rows
        ]
        if _version_tuple(self.version) >= (11, 5):
            return {"continueToken": "", "versions": listed}
        return listed

    def _get_version(self, uid: str, version: str) -> dict[str, Any]:
        """pkg/api/dashboard.go GetDashboardVersion: one version by number, its own message."""
        stored = self._state.dashboards.get(uid)
        if stored is None:
            raise _AnswerError(404, {"message": "Dashboard not found"})
        row = next((v for v in stored.versions if str(v.version) == version), None)
        if row is None:
            raise _AnswerError(
                500,
                {"message": f"Dashboard version {version} not found for dashboardId {stored.id}"},
            )
        return self._version_json(stored, row, row.message)

    def _get_dashboard(self, uid: str) -> dict[str, Any]:
        stored = self._state.dashboards.get(uid)
        if stored is None:
            raise _AnswerError(404, {"message": "Dashboard not found"})
        folder = self._state.folders.get(stored.folder_uid)
        return {
            "dashboard": self._full_model(stored),
            "meta": {
                "type": "db",
                "slug": _slug(str(stored.model.get("title", ""))),
                "url": self._url(stored),
                "version": stored.version,
                # `provisioned` only when the provider forbids UI updates (GetDashboard).
                "provisioned": stored.provisioned and not stored.allow_ui_updates,
                "provisionedExternalId": stored.provisioned_path,
                "folderUid": stored.folder_uid,
                "folderTitle": folder.title if folder else "General",
                "folderId": folder.id if folder else 0,
            },
        }

    def _delete_dashboard(self, uid: str) -> dict[str, Any]:
        stored = self._state.dashboards.get(uid)
        if stored is None:
            raise _AnswerError(404, {"message": "Dashboard not found"})
        if stored.provisioned:
            raise _AnswerError(400, {"message": "provisioned dashboard cannot be deleted"})
        del self._state.dashboards[uid]
        self.writes += 1
        title = str(stored.model.get("title", ""))
        return {"title": title, "message": f"Dashboard {title} deleted", "uid": uid}

    def _search(self, params: dict[str, list[str]]) -> list[dict[str, Any]]:
        def values(name: str) -> list[str]:
            return [v for raw in params.get(name, []) for v in raw.split(",") if v]

        query = params.get("query", [""])[-1].lower()
        tags = set(params.get("tag", []))
        kind = params.get("type", [""])[-1]
        uids = set(values("dashboardUIDs"))
        folder_uids = set(values("folderUIDs"))
        limit = min(int(params.get("limit", ["1000"])[-1]), 5000)
        page = max(int(params.get("page", ["1"])[-1]), 1)
        hits: list[dict[str, Any]] = []
        if kind in ("", "dash-folder") and not tags and not uids:
            for f in self._state.folders.values():
                if query in f.title.lower() and (not folder_uids or f.parent_uid in folder_uids):
                    hits.append(
                        {"id": f.id, "uid": f.uid, "title": f.title,
                         "url": f"/dashboards/f/{f.uid}/", "type": "dash-folder", "tags": []}
                    )  # fmt: skip
        if kind in ("", "dash-db"):
            for d in self._state.dashboards.values():
                title = str(d.model.get("title", ""))
                dash_tags = list(d.model.get("tags") or [])
                if query not in title.lower() or not tags <= set(dash_tags):
                    continue
                if (uids and d.uid not in uids) or (
                    folder_uids and d.folder_uid not in folder_uids
                ):
                    continue
                folder = self._state.folders.get(d.folder_uid)
                hit: dict[str, Any] = {
                    "id": d.id, "uid": d.uid, "title": title, "url": self._url(d),
                    "type": "dash-db", "tags": dash_tags,
                }  # fmt: skip
                if folder is not None:
                    hit.update(folderUid=folder.uid, folderTitle=folder.title, folderId=folder.id)
                hits.append(hit)
        hits.sort(key=lambda h: (h["type"] != "dash-folder", str(h["title"]).lower()))
        return hits[(page - 1) * limit : page * limit]

    # -- folders --------------------------------------------------------------------------------
    def _folder(self, uid: str) -> _StoredFolder:
        folder = self._state.folders.get(uid)
        if folder is None:
            raise _AnswerError(404, {"message": "folder not found", "status": "not-found"})
        return folder

    @staticmethod
    def _folder_json(folder: _StoredFolder) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": folder.id, "uid": folder.uid, "title": folder.title,
            "url": f"/dashboards/f/{folder.uid}/", "version": folder.version,
        }  # fmt: skip
        if folder.parent_uid:
            out["parentUid"] = folder.parent_uid
        return out

    def _create_folder(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not str(body.get("title") or "").strip():
            raise _AnswerError(400, {"message": "folder title cannot be empty"})
        uid = str(body.get("uid") or f"f{self._state.next_id:08d}")
        if len(uid) > _UID_MAX or not _UID_RE.match(uid):
            raise _AnswerError(400, {"message": "uid contains illegal characters or is too long"})
        if uid in self._state.folders:
            raise _AnswerError(
                409, {"message": "a folder/dashboard with the same uid already exists"}
            )
        self._check_title_free(str(body["title"]), uid)
        parent = body.get("parentUid")
        if parent:
            self._folder(parent)
        folder = _StoredFolder(self._state.next_id, uid, str(body["title"]), 1, parent)
        self._state.next_id += 1
        self._state.folders[uid] = folder
        self.writes += 1
        return self._folder_json(folder)

    def _update_folder(self, uid: str, body: Any) -> dict[str, Any]:
        folder = self._folder(uid)
        if not isinstance(body, dict):
            raise _AnswerError(400, {"message": "bad request data"})
        if not body.get("overwrite") and body.get("version") != folder.version:
            raise _AnswerError(
                412,
                {"status": "version-mismatch",
                 "message": "the folder has been changed by someone else"},
            )  # fmt: skip
        if body.get("title"):
            self._check_title_free(str(body["title"]), uid)
            folder.title = str(body["title"])
        folder.version += 1
        self.writes += 1
        return self._folder_json(folder)

    def _check_title_free(self, title: str, uid: str) -> None:
        """Before 11.3 a folder was a dashboard row and its title unique among the root's
        folders: ErrFolderSameNameExists, answered 409 (pkg/api/folder_test.go)."""
        if not self.unique_folder_titles:
            return
        for other in self._state.folders.values():
            if other.uid != uid and other.title.lower() == title.lower():
                raise _AnswerError(
                    409,
                    {"message": "a folder or dashboard in the general folder with the same name "
                     "already exists"},
                )  # fmt: skip

    def _delete_folder(self, uid: str) -> dict[str, Any]:
        folder = self._folder(uid)
        for d_uid in [d.uid for d in self._state.dashboards.values() if d.folder_uid == uid]:
            del self._state.dashboards[d_uid]
        del self._state.folders[uid]
        self.writes += 1
        return {"id": folder.id, "title": folder.title, "message": "Folder deleted"}
