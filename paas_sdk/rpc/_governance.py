"""Governance rules as Dubbo Admin writes them into the config centre, applied by the consumer.

Override rules (configurators) live at ``/dubbo/config/dubbo/<interface>:<version>:<group>
.configurators`` (Dubbo's `URL.getColonSeparatedKey()`, empty parts kept; Dubbo Admin's
`ConvertUtil.getIdFromDTO`), as YAML (`ConfigParser`)::

    configVersion: v3.0
    scope: service
    key: com.example.order.v1.OrderService
    enabled: true
    configs:
    - addresses: ["10.0.0.5:50051"]
      side: provider
      parameters: {disabled: true}       # or {weight: 200}

Provider-side items whose address matches a provider (``ip:port``, ``ip``, or ``0.0.0.0`` for
all) override its URL parameters; ``disabled=true`` takes it out of the consumer's choice
(`RegistryDirectory.toInvokers`). Legacy ``override://`` leaves are not read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import yaml

from paas_sdk.registry import DubboURL

__all__ = ["Override", "parse_configurators", "rule_key"]

log = logging.getLogger("paas_sdk.rpc")

_ANY_HOST = "0.0.0.0"


def rule_key(interface: str, group: str | None, version: str | None) -> str:
    """The config-centre key of a service's rules: ``interface:version:group``."""
    return f"{interface}:{version or ''}:{group or ''}"


@dataclass(frozen=True)
class Override:
    """One provider-side override item: which addresses, which parameters."""

    addresses: tuple[str, ...]
    parameters: tuple[tuple[str, str], ...]

    def applies_to(self, url: DubboURL) -> bool:
        for address in self.addresses:
            if (
                address in (_ANY_HOST, url.host, url.address)
                or address == f"{_ANY_HOST}:{url.port}"
            ):
                return True
        return False

    def apply(self, url: DubboURL) -> DubboURL:
        return url.with_parameters(**dict(self.parameters)) if self.applies_to(url) else url


def parse_configurators(text: str | bytes | None, where: str) -> tuple[Override, ...]:
    """The provider-side overrides of a configurators document; a bad one is logged and empty."""
    if not text:
        return ()
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        log.warning("ignoring an override rule that is not YAML at %s: %s", where, exc)
        return ()
    if not isinstance(document, dict) or document.get("enabled") is False:
        return ()
    overrides = []
    for item in document.get("configs") or ():
        if not isinstance(item, dict) or item.get("enabled") is False:
            continue
        if item.get("side", "provider") != "provider":
            continue  # consumer-side items tune this consumer's own calls, not the provider list
        addresses = item.get("addresses") or [_ANY_HOST]
        parameters = item.get("parameters") or {}
        if not isinstance(addresses, list) or not isinstance(parameters, dict):
            log.warning("ignoring a malformed override item at %s: %r", where, item)
            continue
        overrides.append(
            Override(
                tuple(str(a) for a in addresses),
                tuple(sorted((str(k), _text(v)) for k, v in parameters.items())),
            )
        )
    return tuple(overrides)


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
