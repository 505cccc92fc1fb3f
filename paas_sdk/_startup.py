"""What `paas_sdk.init()` says when it starts: one summary line, a warning per fallback.

A service that starts on a guess (its app id from the program's name, a loopback address
registered in ZooKeeper, no configuration at all) or with a misspelt ``PAAS_*`` variable runs,
but it says so once, at start, naming the variable that would fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from paas_sdk.context import ENV_VARS
from paas_sdk.errors import ConfigError

__all__ = ["app_id_source", "require", "unknown_variables"]

# variables the SDK's other doors read (CLIs, harness, integrations): not misspellings
_OTHER_KNOWN = {
    "PAAS_CONFIG_DIR",
    "PAAS_LOG_FORMAT",
    "PAAS_METRICS_SUPERVISOR",
    "PAAS_ASGI_APP",
    "PAAS_ASGI_APP_FACTORY",
    "PAAS_CACHE_DIR",
    "PAAS_EXPORTER_CONFIG",
}
_OTHER_PREFIXES = ("PAAS_LOGS_", "PAAS_TEST_", "PAAS_DASH_", "PAAS_EXPORTER_")


def unknown_variables(known_settings: set[str], environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``PAAS_*`` variable nothing reads, naming the one it resembles."""
    known = known_settings | set(ENV_VARS.values()) | _OTHER_KNOWN
    warnings = []
    for name in sorted(environ):
        if not name.startswith("PAAS_") or name in known or name.startswith(_OTHER_PREFIXES):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a variable paas_sdk reads{hint}")
    return warnings


def app_id_source(environ: Mapping[str, str]) -> str:
    """Where the app id came from: the variable, Apollo's ``APP_ID``, or the program's name."""
    for variable in ("PAAS_APP_ID", "APP_ID"):
        if environ.get(variable, "").strip():
            return variable
    return "the program's name"


_EXTRAS = {"confluent_kafka": "kafka", "kazoo": "zookeeper", "grpc": "rpc"}


def require(module: str, variable: str) -> None:
    """Raise one clear error when `variable` asks for `module` and its extra is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        extra = _EXTRAS.get(module, module)
        raise ConfigError(
            f"set, but {module} is not installed: pip install 'paas-sdk[{extra}]'", where=variable
        )
