"""A Grafana HTTP API double over real HTTP: dashboards, folders, search, health and auth.

It answers as Grafana does (reference/grafana.md): versions start at 1 and grow by one per save,
a stale `version` without `overwrite` is a 412 `version-mismatch`, an `id` and a `uid` naming two
different dashboards is the stale-id 400, omitting `folderUid` moves a dashboard to the root, an
unknown folder is a 400, and every `/api` call but `/api/health` wants the bearer token (401).
`writes` counts the requests that changed something, so a test can assert a sync wrote nothing.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from paas_sdk._http_server import BackgroundHTTPServer

__all__ = ["GrafanaDouble"]

_UID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_UID_MAX = 40
_MESSAGE_MAX = 500
GRAFANA_VERSION = "11.6.0"


@dataclass
class _StoredDashboard:
    id: int
    uid: str
    version: int
    folder_uid: str
    model: dict[str, Any]
    provisioned: bool = False
    plugin_id: str = ""


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
    ) -> None:
        self.token = token
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
    def edit(self, uid: str, **changes: Any) -> int:
        """Someone else saves dashboard `uid` with `changes`: its version grows; returns it."""
        with self._lock:
            stored = self._state.dashboards[uid]
            stored.model.update(changes)
            stored.version += 1
            return stored.version

    def provision(self, uid: str, title: str, folder_uid: str = "") -> None:
        """Add a dashboard as file provisioning would: the API refuses to save over it."""
        with self._lock:
            self._store_new(
                {"uid": uid, "title": title}, folder_uid, provisioned=True, plugin_id=""
            )

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
            return {"commit": "double", "database": "ok", "version": GRAFANA_VERSION}
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
            return {"buildInfo": {"version": GRAFANA_VERSION, "commit": "double"}}
        if path == "/api/dashboards/db" and method == "POST":
            return self._save_dashboard(body)
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
            if existing.provisioned:
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
        self.writes += 1
        return {
            "id": stored.id,
            "uid": stored.uid,
            "url": self._url(stored),
            "status": "success",
            "version": stored.version,
            "slug": _slug(title),
        }

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
                "provisioned": stored.provisioned,
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
            raise _AnswerError(400, {"message": "Cannot delete provisioned dashboard"})
        del self._state.dashboards[uid]
        self.writes += 1
        title = str(stored.model.get("title", ""))
        return {"title": title, "message": f"Dashboard {title} deleted", "id": stored.id}

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
            raise _AnswerError(409, {"message": "a folder with the same uid already exists"})
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
            folder.title = str(body["title"])
        folder.version += 1
        self.writes += 1
        return self._folder_json(folder)

    def _delete_folder(self, uid: str) -> dict[str, Any]:
        folder = self._folder(uid)
        for d_uid in [d.uid for d in self._state.dashboards.values() if d.folder_uid == uid]:
            del self._state.dashboards[d_uid]
        del self._state.folders[uid]
        self.writes += 1
        return {"id": folder.id, "title": folder.title, "message": "Folder deleted"}
