"""The local cache: the last good configurations of each namespace, written atomically.

Same layout as the Java client (`{root}/{appId}/config-cache/{appId}+{cluster}+{ns}.properties`)
so that a Java and a Python service sharing a volume read the same files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from paas_sdk.config._formats import dump_properties, parse_properties


class ConfigCache:
    """Reads and atomically writes one app's cached namespaces under `root`."""

    def __init__(self, root: Path, app_id: str, cluster: str) -> None:
        self.directory = Path(root) / app_id / "config-cache"
        self.app_id = app_id
        self.cluster = cluster

    def path(self, namespace: str) -> Path:
        return self.directory / f"{self.app_id}+{self.cluster}+{namespace}.properties"

    def write(self, namespace: str, configurations: Mapping[str, str]) -> None:
        """Write-then-rename, so a reader never sees half a file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(namespace)
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(dump_properties(configurations))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def read(self, namespace: str) -> dict[str, str] | None:
        path = self.path(namespace)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return parse_properties(text, where=str(path))
