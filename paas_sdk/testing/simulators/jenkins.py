"""A Jenkins JSON API simulator: nested folders of jobs, the build queue and the computers.

It honours the `tree` parameter as Jenkins does (only the requested fields, nested as asked,
`{M,N}` ranges), answers `/job/<a>/job/<b>/api/json` for one folder, `/queue/api/json` and
`/computer/api/json`. `jobs`, `folders` and `depth` set the size: 20 000 jobs under 10 top folders
three levels deep is the load-test shape.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from paas_sdk.testing.simulators._http import HTTPError, Request, Response, SimulatorServer

FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
JOB_CLASSES = ("hudson.model.FreeStyleProject", "org.jenkinsci.plugins.workflow.job.WorkflowJob")
RESULT_COLORS = {
    "SUCCESS": "blue",
    "UNSTABLE": "yellow",
    "FAILURE": "red",
    "NOT_BUILT": "notbuilt",
    "ABORTED": "aborted",
}

TreeSpec = dict[str, "tuple[TreeSpec | None, tuple[int, int] | None]"]


_TOKENS = re.compile(r"[,\[\]{}]|[^,\[\]{}]+")
_MAX = 2**31 - 1  # Range.ALL's Integer.MAX_VALUE


def parse_tree(text: str) -> TreeSpec:
    """Parse Jenkins' `tree` as stapler's `NamedPathPruner.parse` does (jenkinsci/stapler
    `core/src/main/java/org/kohsuke/stapler/export/NamedPathPruner.java`): `a,b[c,d[e]]{2,5}`;
    names are taken verbatim (spaces included); a range is `{N}` (that one item), `{N,}`,
    `{,M}` or `{N,M}` (from N up to, not including, M), numbers only; `ValueError` otherwise."""
    tokens = [(m.group(), m.start()) for m in _TOKENS.finditer(text)] + [("", len(text))]
    pos = 0

    def accept(token: str) -> bool:
        nonlocal pos
        if tokens[pos][0] == token:
            pos += 1
            return True
        return False

    def expect(token: str, what: str) -> None:
        if not accept(token):
            raise ValueError(f"expected {what} at {tokens[pos][1]}")

    def word() -> str:
        nonlocal pos
        value = tokens[pos][0]
        if value in ("", ",", "[", "]", "{", "}"):
            raise ValueError(f"expected name at {tokens[pos][1]}")
        pos += 1
        return value

    def integer() -> int:
        value, at = tokens[pos]
        if not value.isascii() or not value.isdigit():
            raise ValueError(f"expected number at {at}")
        word()
        return int(value)

    def fields() -> TreeSpec:
        spec: TreeSpec = {}
        while True:
            name = word()
            sub: TreeSpec | None = None
            bounds: tuple[int, int] | None = None
            if accept("["):
                sub = fields()
                expect("]", "]")
            if accept("{"):
                if accept(","):
                    bounds = (0, integer())
                else:
                    low = integer()
                    if tokens[pos][0] == "}":
                        bounds = (low, low + 1)
                    else:
                        expect(",", ",")
                        bounds = (low, _MAX) if tokens[pos][0] == "}" else (low, integer())
                expect("}", "}")
            spec[name] = (sub, bounds)
            if not accept(","):
                return spec

    spec = fields()
    expect("", "end of tree")
    return spec


def select(value: Any, spec: TreeSpec | None) -> Any:
    """Keep only the fields `spec` asks for, as Jenkins' tree filter does (`_class` always)."""
    if spec is None or value is None:
        return value
    if isinstance(value, list):
        return [select(item, spec) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {"_class": value["_class"]} if "_class" in value else {}
    for name, (sub, bounds) in spec.items():
        if name not in value:
            continue
        item = value[name]
        if bounds is not None and isinstance(item, list):
            item = item[bounds[0] : bounds[1]]
        out[name] = select(item, sub)
    return out


@dataclass
class JenkinsState:
    """Jobs (nested folders), queue items and computers; mutate between polls."""

    root: dict[str, Any] = field(default_factory=dict)
    queue: list[dict[str, Any]] = field(default_factory=list)
    computers: list[dict[str, Any]] = field(default_factory=list)

    def iter_jobs(self) -> list[dict[str, Any]]:
        """Every buildable job (not folders), depth first."""
        found: list[dict[str, Any]] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "jobs" in item:
                    walk(item["jobs"])
                else:
                    found.append(item)

        walk(self.root["jobs"])
        return found

    def iter_folders(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "jobs" in item:
                    found.append(item)
                    walk(item["jobs"])

        walk(self.root["jobs"])
        return found


def _job(rnd: random.Random, name: str, parent: str, base_url: str, now_ms: int) -> dict[str, Any]:
    full = f"{parent}/{name}" if parent else name
    url = base_url + "".join(f"job/{part}/" for part in full.split("/"))
    roll = rnd.random()
    if roll < 0.05:  # never built
        return {"_class": JOB_CLASSES[0], "name": name, "fullName": full, "url": url,
                "color": "notbuilt", "buildable": True, "inQueue": False, "healthReport": [],
                "lastBuild": None, "lastCompletedBuild": None}  # fmt: skip
    number = rnd.randint(1, 900)
    result = rnd.choices(list(RESULT_COLORS), weights=(70, 10, 12, 3, 5))[0]
    started = now_ms - rnd.randint(600_000, 90_000_000)
    duration = rnd.randint(1_000, 1_800_000)
    completed = {"_class": "hudson.model.FreeStyleBuild", "number": number, "result": result,
                 "building": False, "duration": duration, "timestamp": started,
                 "estimatedDuration": duration}  # fmt: skip
    building = roll > 0.93
    last = completed
    color = RESULT_COLORS[result]
    if building:
        last = {"_class": "hudson.model.FreeStyleBuild", "number": number + 1, "result": None,
                "building": True, "duration": 0, "timestamp": now_ms - rnd.randint(1_000, 600_000),
                "estimatedDuration": duration}  # fmt: skip
        color += "_anime"
    score = {"blue": 100, "yellow": 60, "red": 0, "notbuilt": 100, "aborted": 40}[
        RESULT_COLORS[result]
    ]
    return {
        "_class": rnd.choice(JOB_CLASSES), "name": name, "fullName": full, "url": url,
        "color": color, "buildable": True, "inQueue": False,
        "healthReport": [{"description": f"Build stability: score {score}", "score": score}],
        "lastBuild": last, "lastCompletedBuild": completed,
    }  # fmt: skip


def generate_state(
    jobs: int,
    *,
    folders: int | Sequence[int] = 10,
    depth: int = 3,
    seed: int = 7,
    base_url: str = "/",
    now_ms: int | None = None,
) -> JenkinsState:
    """`folders` children per folder (or a count per level: `(100, 18)` is 100 top folders of
    18 each, 1 900 in all), `depth` folder levels, jobs spread over the leaves."""
    per_level = [folders] * depth if isinstance(folders, int) else list(folders)
    depth = len(per_level)
    rnd = random.Random(seed)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms

    def folder(name: str, parent: str) -> dict[str, Any]:
        full = f"{parent}/{name}" if parent else name
        url = base_url + "".join(f"job/{part}/" for part in full.split("/"))
        return {"_class": FOLDER_CLASS, "name": name, "fullName": full, "url": url,
                "healthReport": [], "jobs": []}  # fmt: skip

    root: dict[str, Any] = {"_class": "hudson.model.Hudson", "jobs": []}
    leaves = [root]
    for level in range(depth):
        next_leaves = []
        for parent in leaves:
            for index in range(per_level[level]):
                child = folder(f"l{level}-{index:02d}", parent.get("fullName", ""))
                parent["jobs"].append(child)
                next_leaves.append(child)
        leaves = next_leaves
    for index, leaf in zip(range(jobs), itertools.cycle(leaves), strict=False):
        leaf["jobs"].append(
            _job(rnd, f"job-{index:05d}", leaf.get("fullName", ""), base_url, now_ms)
        )
    queue = [
        {"_class": "hudson.model.Queue$WaitingItem", "id": 1000 + i, "blocked": False,
         "buildable": True, "stuck": i == 0, "inQueueSince": now_ms - 60_000 * (i + 1),
         "why": "Waiting for next available executor",
         "task": {"_class": JOB_CLASSES[0], "name": f"job-{i:05d}", "url": f"{base_url}job/x/"}}
        for i in range(rnd.randint(2, 6))
    ]  # fmt: skip
    computers = [
        {"_class": "hudson.slaves.SlaveComputer", "displayName": f"agent-{i}",
         "offline": i % 5 == 4, "temporarilyOffline": False, "idle": i % 2 == 0,
         "numExecutors": 4, "offlineCauseReason": "disconnected" if i % 5 == 4 else ""}
        for i in range(8)
    ]  # fmt: skip
    return JenkinsState(root=root, queue=queue, computers=computers)


class JenkinsSimulator(SimulatorServer):
    """Jenkins' remote access API over real HTTP."""

    name = "jenkins"

    def __init__(
        self,
        *,
        jobs: int = 30,
        folders: int | Sequence[int] = 3,
        depth: int = 2,
        seed: int = 7,
        credentials: tuple[str, str] | None = ("exporter", "api-token"),
        port: int = 0,
        busy_executors: int = 5,
    ) -> None:
        super().__init__(port=port, credentials=credentials)
        self.state = generate_state(jobs, folders=folders, depth=depth, seed=seed)
        self.busy_executors = busy_executors
        self._cache: dict[str, bytes] = {}
        self._cache_lock = threading.Lock()
        self.route("GET", r"(?P<folder>(/job/[^/]+)*)/api/json", self._items)
        self.route("GET", "/queue/api/json", self._queue)
        self.route("GET", "/computer/api/json", self._computers)

    def changed(self) -> None:
        """Call after mutating `state`, so cached answers are dropped."""
        with self._cache_lock:
            self._cache.clear()

    def _tree(self, request: Request) -> TreeSpec | None:
        text = request.params.get("tree")
        if text is None:
            return None
        try:
            return parse_tree(text)
        except (ValueError, IndexError) as error:
            raise HTTPError(400, f"bad tree parameter: {error}") from None

    def _items(self, request: Request) -> Response:
        assert request.match is not None
        node = self.state.root
        for part in [p for p in request.match["folder"].split("/") if p and p != "job"]:
            children = {j["name"]: j for j in node.get("jobs", [])}
            if part not in children:
                raise HTTPError(404, "Not Found")
            node = children[part]
        key = request.path + "?" + request.params.get("tree", "")
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is None:
            spec = self._tree(request)
            if spec is None:  # without a tree Jenkins answers depth 0: direct children, briefly
                spec = {"jobs": ({"name": (None, None), "url": (None, None),
                                  "color": (None, None)}, None)}  # fmt: skip
            cached = orjson.dumps(select(node, spec))
            with self._cache_lock:
                self._cache[key] = cached
        return Response(cached, content_type="application/json;charset=utf-8")

    def _queue(self, request: Request) -> Response:
        body = select(
            {"_class": "hudson.model.Queue", "items": self.state.queue}, self._tree(request)
        )
        return Response(body, content_type="application/json;charset=utf-8")

    def _computers(self, request: Request) -> Response:
        computers = self.state.computers
        total = sum(c["numExecutors"] for c in computers if not c["offline"])
        body = {
            "_class": "hudson.model.ComputerSet",
            "busyExecutors": self.busy_executors,
            "totalExecutors": total,
            "computer": computers,
        }
        return Response(
            select(body, self._tree(request)), content_type="application/json;charset=utf-8"
        )
