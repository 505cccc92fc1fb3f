"""A Kubernetes API session for `paas-dash apply`: kubeconfig in, JSON objects out, errors named.

The `kubernetes` client loads the kubeconfig (tokens, client certificates, exec plugins) and
speaks TLS; `context_namespace` reads the selected context's namespace, which the client itself
does not apply, so that `paas-dash apply` defaults to it as kubectl does. Requests go through
the client's `ApiClient` as plain JSON, so ConfigMaps and custom resources are handled alike.
Every failure becomes one `KubernetesError` naming the object or path and the server's own
message; every request is bounded by `timeout`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paas_sdk.errors import KubernetesError

__all__ = ["ApiFailure", "KubeSession", "context_namespace"]


@dataclass(frozen=True)
class ApiFailure:
    """A refused request as the API server reported it (its `Status` object)."""

    code: int
    reason: str
    message: str
    causes: list[dict[str, Any]]

    @classmethod
    def of(cls, status: int, body: str) -> ApiFailure:
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        details = parsed.get("details") or {}
        return cls(
            status,
            str(parsed.get("reason") or ""),
            str(parsed.get("message") or body[:300] or f"HTTP {status}"),
            list(details.get("causes") or []),
        )


class RequestRefusedError(KubernetesError):
    """The API server answered with an error status; `failure` holds its Status."""

    def __init__(self, failure: ApiFailure, where: str) -> None:
        super().__init__(failure.message, where=where)
        self.failure = failure


def _where(kubeconfig: Path | None) -> str:
    return str(kubeconfig) if kubeconfig else "kubeconfig (KUBECONFIG or ~/.kube/config)"


def context_namespace(kubeconfig: Path | None = None, context: str | None = None) -> str | None:
    """The namespace the kubeconfig's context (`context`, else its current one) names, or None
    when it names none (or there is no such context: the session reports that)."""
    from kubernetes import config

    try:
        contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None
        )
    except (config.ConfigException, OSError, ValueError, TypeError) as error:
        raise KubernetesError(
            f"cannot load the kubeconfig: {error}", where=_where(kubeconfig)
        ) from None
    if context is None:
        chosen = current
    else:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


class KubeSession:
    """One cluster, as a kubeconfig (and optionally a context in it) describes it."""

    def __init__(
        self, kubeconfig: Path | None = None, context: str | None = None, timeout: float = 10.0
    ) -> None:
        from kubernetes import config
        from kubernetes.client import Configuration

        where = _where(kubeconfig)
        configuration = Configuration()
        # a refused connection fails fast instead of urllib3's three silent retries
        configuration.retries = 0
        try:
            self._client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig) if kubeconfig else None,
                context=context,
                persist_config=False,
                client_configuration=configuration,
            )
        except (config.ConfigException, OSError, ValueError, TypeError) as error:
            raise KubernetesError(f"cannot load the kubeconfig: {error}", where=where) from None
        self.server: str = self._client.configuration.host
        self.timeout = timeout

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One request: the decoded JSON answer, or `RequestRefusedError` (an error status)."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        where = f"{self.server}{path}"
        serialized = self._client.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(*serialized, _request_timeout=self.timeout)
            data = response.read()
        except ApiException as error:
            if error.status:
                raise RequestRefusedError(
                    ApiFailure.of(error.status, error.body or ""), where
                ) from None
            raise KubernetesError(
                f"cannot reach the API server: {error.reason}", where=where
            ) from None
        except urllib3.exceptions.HTTPError as error:
            raise KubernetesError(f"cannot reach the API server: {error}", where=where) from None
        text = data.decode() if isinstance(data, bytes) else str(data or "")
        if not 200 <= response.status < 300:
            raise RequestRefusedError(ApiFailure.of(response.status, text), where)
        decoded = json.loads(text) if text else {}
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    def __enter__(self) -> KubeSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
