"""The service's identity: who is running, in which environment, on which pod.

Read once from environment variables (the Kubernetes downward API fills the pod fields) into an
immutable, validated `ServiceContext` that logs, metrics, config and the registry all share.

| field       | variable             | default with nothing set                  |
|-------------|----------------------|-------------------------------------------|
| app_id      | ``PAAS_APP_ID``      | ``APP_ID`` (Apollo's), else the program |
| environment | ``PAAS_ENV``         | ``local``                                 |
| cluster     | ``PAAS_CLUSTER``     | ``default`` (Apollo's default cluster)    |
| version     | ``PAAS_VERSION``     | ``0.0.0``                                 |
| pod_name    | ``POD_NAME``         | none                                      |
| namespace   | ``POD_NAMESPACE``    | none                                      |
| node_name   | ``NODE_NAME``        | none                                      |
| pod_ip      | ``POD_IP``           | none                                      |
| pod_uid     | ``POD_UID``          | none                                      |
| host_name   | ``HOSTNAME``         | ``socket.gethostname()``                  |
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from paas_sdk.errors import ContextError

__all__ = ["ENV_VARS", "ServiceContext"]

# Apollo app ids and Dubbo application names share this alphabet; a dot or a dash is common.
_APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,127}")
# Kubernetes object names (pods, namespaces, nodes) are DNS-1123 subdomains.
_DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_UID = re.compile(r"[0-9a-fA-F-]{8,64}")


def _matching(pattern: re.Pattern[str], expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value) or len(value) > 253:
            raise ValueError(f"expected {expected}")
        return value

    return AfterValidator(check)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("expected an IPv4 or IPv6 address") from None


AppId = Annotated[str, _matching(_APP_ID, "letters, digits, '.', '_' or '-' (at most 128)")]
Token = Annotated[str, _matching(_TOKEN, "letters, digits, '.', '_' or '-' (at most 63)")]
Version = Annotated[str, _matching(_VERSION, "a version such as 1.4.2 or 2024.05-rc1+abc")]
K8sName = Annotated[str, _matching(_DNS_1123, "a lower-case DNS-1123 name")]
PodUid = Annotated[str, _matching(_UID, "a UID such as 3f1c2a9e-...")]
IPAddress = Annotated[str, AfterValidator(_ip)]

# field name -> environment variable, in the order a person reads them
ENV_VARS: dict[str, str] = {
    "app_id": "PAAS_APP_ID",
    "environment": "PAAS_ENV",
    "cluster": "PAAS_CLUSTER",
    "version": "PAAS_VERSION",
    "pod_name": "POD_NAME",
    "namespace": "POD_NAMESPACE",
    "node_name": "NODE_NAME",
    "pod_ip": "POD_IP",
    "pod_uid": "POD_UID",
    "host_name": "HOSTNAME",
}


def _program_name() -> str:
    stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    return cleaned or "python"


class ServiceContext(BaseModel):
    """Who this process is. Immutable; build it with `ServiceContext.from_env()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_id: AppId
    environment: Token = "local"
    cluster: Token = "default"
    version: Version = "0.0.0"
    pod_name: K8sName | None = None
    namespace: K8sName | None = None
    node_name: K8sName | None = None
    pod_ip: IPAddress | None = None
    pod_uid: PodUid | None = None
    host_name: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceContext:
        """Read the context from `environ` (default `os.environ`); empty variables count as unset.

        Raises `ContextError` naming the variable and what was expected.
        """
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for field, var in ENV_VARS.items():
            raw = env.get(var, "").strip()
            if raw:
                values[field] = raw
        if "app_id" not in values and env.get("APP_ID", "").strip():
            values["app_id"] = env["APP_ID"].strip()  # Apollo's own variable for the app id
        values.setdefault("app_id", _program_name())
        values.setdefault("host_name", socket.gethostname())
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            var = ENV_VARS.get(field, field)
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ContextError(f"{message}, got {values.get(field)!r}", where=var) from None

    @property
    def in_kubernetes(self) -> bool:
        """True when the downward API told us which pod we are."""
        return self.pod_name is not None
