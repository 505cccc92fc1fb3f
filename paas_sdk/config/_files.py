"""The embedded default: the same client API over local properties/JSON/YAML files.

Each file is a namespace named after it (`application.properties` -> `application`,
`db.json` -> `db.json`), as in Apollo. A `paas-config-files` thread watches modification times
and reloads changed files; a file that no longer parses keeps its last good values.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.registry import CollectorRegistry

from paas_sdk.config._formats import namespace_format, parse_properties
from paas_sdk.config._store import ConfigSource, ConfigStore, make_snapshot
from paas_sdk.errors import ConfigError, ConfigSourceError

log = logging.getLogger("paas_sdk.config")


def _namespace_of(path: Path) -> str:
    return path.stem if path.suffix.lower() == ".properties" else path.name


class FileConfigClient(ConfigStore):
    """Configuration read from local files, reloaded when they change."""

    def __init__(
        self,
        files: Sequence[Path | str],
        *,
        poll_interval: float = 1.0,
        metrics: CollectorRegistry | None = None,
        missing_ok: bool = False,
    ) -> None:
        """`missing_ok=True`: a file that does not exist yet counts as empty until it appears."""
        self.missing_ok = missing_ok
        self._files = {_namespace_of(Path(f)): Path(f) for f in files}
        super().__init__(list(self._files), metrics)
        self.poll_interval = poll_interval
        self._seen: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_directory(cls, directory: Path | str, **options: object) -> FileConfigClient:
        """Every `*.properties`, `*.json`, `*.yaml`/`*.yml` file in `directory`."""
        root = Path(directory)
        files = (
            sorted(
                p
                for p in root.iterdir()
                if p.is_file() and p.suffix.lower() in (".properties", ".json", ".yaml", ".yml")
            )
            if root.is_dir()
            else []
        )
        if not files:
            raise ConfigSourceError("no .properties/.json/.yaml files found", where=str(root))
        return cls(files, **options)  # type: ignore[arg-type]

    def start(self) -> FileConfigClient:
        """Read every file (raising on the first that is missing or does not parse)."""
        if self._thread is not None:
            return self
        for namespace in self.namespaces:
            self._load(namespace)
        self._thread = threading.Thread(target=self._watch, name="paas-config-files", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_events()

    def __enter__(self) -> FileConfigClient:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def _load(self, namespace: str) -> None:
        path = self._files[namespace]
        try:
            status = path.stat()
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if not self.missing_ok:
                raise ConfigSourceError("cannot read: No such file", where=str(path)) from None
            self._install(make_snapshot(namespace, {}, ConfigSource.FILE, where=str(path)))
            return
        except OSError as error:
            raise ConfigSourceError(
                f"cannot read: {error.strerror or error}", where=str(path)
            ) from None
        self._seen[namespace] = (status.st_mtime_ns, status.st_size)
        if namespace_format(namespace) == "properties":
            configurations = parse_properties(text, where=str(path))
        else:
            configurations = {"content": text}
        self._install(make_snapshot(namespace, configurations, ConfigSource.FILE, where=str(path)))

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval):
            for namespace, path in self._files.items():
                try:
                    status = os.stat(path)
                except OSError:
                    continue
                if self._seen.get(namespace) == (status.st_mtime_ns, status.st_size):
                    self._synced(namespace)
                    continue
                try:
                    self._load(namespace)
                except ConfigError as error:
                    self._sync_failed(namespace)
                    self._seen[namespace] = (status.st_mtime_ns, status.st_size)
                    log.warning("config file change ignored, last good values kept: %s", error)
