"""A real Prometheus server and promtool, from Debian's `prometheus` package."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers._process import ServerProcess, free_port, wait_for


def promtool() -> str:
    """Path of the promtool binary."""
    path = shutil.which("promtool")
    if path is None:
        raise HarnessError("promtool is not installed; run the bootstrap", where="promtool")
    return path


class PrometheusServer(ServerProcess):
    """Prometheus on a free loopback port that scrapes the given targets every `interval`."""

    name = "prometheus"
    start_timeout = 60.0

    def __init__(
        self, workdir: Path | None = None, *, port: int | None = None, scrape_interval: str = "1s"
    ) -> None:
        super().__init__(workdir)
        self.port = port or free_port()
        self.scrape_interval = scrape_interval
        self._jobs: dict[str, list[str]] = {}
        self._job_options: dict[str, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": [
                {
                    "job_name": job,
                    **self._job_options.get(job, {}),
                    "static_configs": [{"targets": targets}],
                }
                for job, targets in sorted(self._jobs.items())
            ],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def prepare(self) -> None:
        if shutil.which("prometheus") is None:
            raise HarnessError("prometheus is not installed; run the bootstrap", where="prometheus")
        (self.workdir / "data").mkdir(exist_ok=True)
        self._write_config()

    def command(self) -> Sequence[str]:
        return [
            "prometheus",
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=info",
        ]

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        return False

    # -- driving it from a test ----------------------------------------------------------------
    def scrape(self, job: str, targets: Iterable[str], **options: Any) -> None:
        """Scrape `targets` (``host:port``) as `job`; takes effect with a live reload.

        `options` are more fields of the scrape config (``scheme``, ``tls_config``,
        ``basic_auth``, ...)."""
        self._jobs[job] = list(targets)
        self._job_options[job] = options
        self._write_config()
        if self.running:
            httpx.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def api(self, path: str, **params: str) -> Any:
        """GET `/api/v1/<path>` and return its `data`, raising on an error status."""
        body = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10).json()
        if body.get("status") != "success":
            raise HarnessError(f"query failed: {body}", where=f"{self.url}/api/v1/{path}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def wait_for_targets_up(self, job: str, count: int, timeout: float = 30.0) -> None:
        def all_up() -> bool:
            targets = self.api("targets")["activeTargets"]
            up = [t for t in targets if t["labels"].get("job") == job and t["health"] == "up"]
            return len(up) >= count

        wait_for(f"prometheus targets of job {job}", all_up, timeout, interval=0.5)
