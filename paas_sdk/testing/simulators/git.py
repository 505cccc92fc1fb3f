"""A GitLab and Gitee commits API simulator over a delivery world's commits.

- GitLab: `GET /api/v4/projects/:id/repository/commits/:sha`, `:id` the URL-encoded project path,
  answering the Commit entity (`id, short_id, title, message, author_name, author_email,
  authored_date, committer_name, committer_email, committed_date, created_at, parent_ids,
  web_url`; gitlab-org/gitlab `lib/api/commits.rb`, `lib/api/entities/commit.rb`), 404
  `{"message": "404 Commit Not Found"}`, 401 `{"message": "401 Unauthorized"}` without a valid
  `PRIVATE-TOKEN` or `Authorization: Bearer` token.
- Gitee (API v5): `GET /api/v5/repos/:owner/:repo/commits/:sha?access_token=`, answering
  `sha, url, html_url, commit{author{name,email,date}, committer{name,email,date}, message},
  parents[]`, 404 `{"message": "Not Found"}`, 401 `{"message": "401 Unauthorized"}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from paas_sdk.testing.simulators._http import HTTPError, Request, Response, SimulatorServer
from paas_sdk.testing.simulators.delivery import PROJECT, Commit, DeliveryWorld, iso_time


class GitSimulator(SimulatorServer):
    """Commit lookups by sha for the world's applications (`apps/<app>` projects)."""

    name = "git"

    def __init__(
        self,
        world: DeliveryWorld,
        *,
        token: str = "git-token",  # noqa: S107 - a test double's token
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.world = world
        self.token = token
        self.route(
            "GET",
            r"/api/v4/projects/(?P<project>[^/]+)/repository/commits/(?P<sha>[0-9a-f]+)",
            self._gitlab,
        )
        self.route(
            "GET",
            r"/api/v5/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/commits/(?P<sha>[0-9a-f]+)",
            self._gitee,
        )

    def _commit(self, project: str, sha: str, missing: dict[str, str]) -> Commit:
        owner, _, app = project.partition("/")
        found = self.world.commit(sha) if owner == PROJECT else None
        if found is None or not any(
            b.application == app and found in b.commits for b in self.world.builds
        ):
            raise HTTPError(404, missing)
        return found

    def _gitlab(self, request: Request) -> Response:
        assert request.match is not None
        bearer = request.headers.get("Authorization", "")
        if self.token not in (request.headers.get("PRIVATE-TOKEN"), bearer.removeprefix("Bearer ")):
            raise HTTPError(401, {"message": "401 Unauthorized"})
        project = unquote(request.match["project"])
        commit = self._commit(project, request.match["sha"], {"message": "404 Commit Not Found"})
        when = iso_time(commit.time_ms)
        return Response(
            {"id": commit.sha, "short_id": commit.sha[:8], "title": f"change {commit.sha[:7]}",
             "message": f"change {commit.sha[:7]}\n", "author_name": "Dev",
             "author_email": "dev@example.com", "authored_date": when, "committer_name": "Dev",
             "committer_email": "dev@example.com", "committed_date": when, "created_at": when,
             "parent_ids": [], "trailers": {}, "extended_trailers": {},
             "web_url": f"https://gitlab.example/{project}/-/commit/{commit.sha}"}
        )  # fmt: skip

    def _gitee(self, request: Request) -> Response:
        assert request.match is not None
        if request.params.get("access_token") != self.token:
            raise HTTPError(401, {"message": "401 Unauthorized"})
        project = f"{request.match['owner']}/{request.match['repo']}"
        commit = self._commit(project, request.match["sha"], {"message": "Not Found"})
        when = iso_time(commit.time_ms)
        person: dict[str, Any] = {"name": "Dev", "email": "dev@example.com", "date": when}
        return Response(
            {"sha": commit.sha, "url": f"https://gitee.com/api/v5/repos/{project}/commits/{commit.sha}",
             "html_url": f"https://gitee.com/{project}/commit/{commit.sha}",
             "commit": {"author": person, "committer": person,
                        "message": f"change {commit.sha[:7]}"},
             "author": None, "committer": None, "parents": []}
        )  # fmt: skip
