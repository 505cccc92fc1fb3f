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

Condition routers live beside them at ``<key>.condition-router`` (`ConditionRuleParser`)::

    configVersion: v3.0
    scope: service
    force: false
    enabled: true
    key: com.example.order.v1.OrderService
    conditions:
    - method = getOrder => host = 10.0.0.5
    - host = 10.0.1.* => port != 50052

Each ``when => then`` (`ConditionStateRouter`): when the call matches `when` (``method``, the
consumer's ``host``, ``application`` or any consumer parameter), only providers matching `then`
(``host``, ``port``, ``address``, ``protocol`` or any provider parameter) are kept; an empty
`then` keeps none. Values are comma lists with ``*`` globs. Without ``force``, a rule that
would leave no provider is not applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import yaml

from paas_sdk.registry import DubboURL

__all__ = [
    "ConditionRouter",
    "Override",
    "parse_condition_router",
    "parse_configurators",
    "rule_key",
]

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


@dataclass(frozen=True)
class _Match:
    """``key = a,b`` or ``key != a,b`` (Dubbo's `MatchPair`: matches and mismatches)."""

    key: str
    matches: tuple[str, ...]
    mismatches: tuple[str, ...]

    def accepts(self, value: str | None) -> bool:
        if self.matches and not any(_glob(p, value) for p in self.matches):
            return False
        return not any(_glob(p, value) for p in self.mismatches)


def _glob(pattern: str, value: str | None) -> bool:
    """Dubbo's `UrlUtils.isMatchGlobPattern`: ``*``, ``prefix*``, ``*suffix``, ``a*b``."""
    if pattern == "*":
        return True
    if value is None:
        return pattern in ("", "null")
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _unprefixed(key: str) -> str:
    # `consumer.host` and `provider.host` mean `host`: ConditionStateRouter.init drops both
    # prefixes before parsing (it does so across the whole rule text, values included; here
    # only keys, so a value such as consumer.example.com stays intact).
    for prefix in ("consumer.", "provider."):
        key = key.removeprefix(prefix)
    return key


def _parse_side(text: str, where: str) -> tuple[_Match, ...]:
    pairs: list[_Match] = []
    for raw in text.split("&"):
        part = raw.strip()
        if not part:
            continue
        negative = "!=" in part
        key, _, values = part.partition("!=" if negative else "=")
        key, values = _unprefixed(key.strip()), values.strip()
        if not key or not values:
            raise ValueError(f"cannot read condition {part!r} at {where}")
        listed = tuple(v.strip() for v in values.split(",") if v.strip())
        pairs.append(_Match(key, () if negative else listed, listed if negative else ()))
    return tuple(pairs)


@dataclass(frozen=True)
class ConditionRouter:
    """One ``when => then`` rule."""

    when: tuple[_Match, ...]  # (): every call (a blank or `true` when-side)
    then: tuple[_Match, ...] | None  # None: no provider (a blank or `false` then-side)
    force: bool
    text: str

    def applies(self, method: str, consumer: DubboURL) -> bool:
        return all(pair.accepts(_consumer_value(pair.key, method, consumer)) for pair in self.when)

    def keeps(self, provider: DubboURL) -> bool:
        # An empty condition keeps nothing, as ConditionStateRouter.matchThen.
        if not self.then:
            return False
        return all(pair.accepts(_provider_value(pair.key, provider)) for pair in self.then)


def _consumer_value(key: str, method: str, consumer: DubboURL) -> str | None:
    if key == "method":
        return method
    if key == "host":
        return consumer.host
    return consumer.get(key)


def _provider_value(key: str, provider: DubboURL) -> str | None:
    if key == "host":
        return provider.host
    if key == "port":
        return str(provider.port)
    if key == "address":
        return provider.address
    if key == "protocol":
        return provider.protocol
    return provider.get(key)


def parse_condition_router(text: str | bytes | None, where: str) -> tuple[ConditionRouter, ...]:
    """The rules of a condition-router document; a bad document is logged and routes nothing."""
    if not text:
        return ()
    try:
        document = yaml.safe_load(text)
        if not isinstance(document, dict) or document.get("enabled") is False:
            return ()
        force = bool(document.get("force", False))
        routers = []
        for condition in document.get("conditions") or ():
            when, arrow, then = str(condition).partition("=>")
            if not arrow:
                when, then = "", str(condition)
            when, then = when.strip(), then.strip()
            # As Dubbo's ConditionStateRouter.init (dubbo-cluster,
            # org.apache.dubbo.rpc.cluster.router.condition.ConditionStateRouter): a blank or
            # `true` when-side matches every call; a blank or `false` then-side is "no
            # provider", a blacklist.
            when_pairs = () if when in ("", "true") else _parse_side(when, where)
            then_pairs = None if then in ("", "false") else _parse_side(then, where)
            routers.append(ConditionRouter(when_pairs, then_pairs, force, str(condition)))
        return tuple(routers)
    except (yaml.YAMLError, ValueError) as exc:
        log.warning("ignoring a condition router that cannot be read at %s: %s", where, exc)
        return ()


def route(
    routers: tuple[ConditionRouter, ...],
    method: str,
    consumer: DubboURL,
    providers: list[DubboURL],
) -> list[DubboURL]:
    """Apply the rules in order, as Dubbo's router chain does."""
    for router in routers:
        if not providers:
            return providers
        if not router.applies(method, consumer):
            continue
        if router.then is None:
            # ConditionStateRouter.doRoute: no then-condition returns an empty list, force or
            # not (the consumer is blacklisted).
            return []
        kept = [p for p in providers if router.keeps(p)]
        if kept or router.force:
            providers = kept
    return providers
