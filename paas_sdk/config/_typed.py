"""Typed settings: a pydantic model bound to config namespaces, swapped whole on each change.

`settings.current` is a plain attribute holding an immutable model instance: a read is one
attribute load, with no lock, and a reader never sees half an update. An update that fails
validation is rejected: the last good instance stays, the field errors are logged, and
`paas_config_rejected_updates_total` counts it. Also `ApolloSettingsSource` for `BaseSettings`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource

from paas_sdk.config._formats import nest
from paas_sdk.config._store import ConfigChangeEvent, ConfigStore
from paas_sdk.errors import ConfigError, ConfigValidationError

log = logging.getLogger("paas_sdk.config")

M = TypeVar("M", bound=BaseModel)


def merged_properties(
    client: ConfigStore, namespaces: Sequence[str], prefix: str = ""
) -> dict[str, str]:
    """Flat `a.b` keys of the namespaces, the first namespace winning, `prefix.` stripped."""
    merged: dict[str, str] = {}
    for namespace in reversed(namespaces):
        merged.update(client.snapshot(namespace).keys_view())
    if not prefix:
        return merged
    start = prefix.rstrip(".") + "."
    return {k[len(start) :]: v for k, v in merged.items() if k.startswith(start)}


def describe_errors(error: ValidationError) -> str:
    """Field paths and messages, never the offending values (they may be secrets)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '<root>'}: {item['msg']}"
        for item in error.errors()
    )


class TypedSettings(Generic[M]):
    """A pydantic model kept current from one or more namespaces of a config client.

    settings = TypedSettings(AppSettings, client)
    settings.current.db.url      # keys like `db.url` fill nested models
    """

    current: M

    def __init__(
        self,
        model: type[M],
        client: ConfigStore,
        *,
        namespaces: Sequence[str] | None = None,
        prefix: str = "",
    ) -> None:
        if not client.loaded:
            raise ConfigError(
                "start() the config client before binding settings", where=model.__name__
            )
        self.model = model
        self._client = client
        self.namespaces = tuple(namespaces or client.namespaces)
        self._prefix = prefix
        self._listeners: list[Callable[[M, M], None]] = []
        try:
            self.current = self._build()
        except ValidationError as error:
            raise ConfigValidationError(
                f"configuration does not fit {model.__name__}: {describe_errors(error)}",
                where=", ".join(self.namespaces),
            ) from None
        client.add_change_listener(self._changed, namespaces=self.namespaces)

    def _build(self) -> M:
        values = nest(merged_properties(self._client, self.namespaces, self._prefix))
        return self.model.model_validate(values)

    def on_change(self, listener: Callable[[M, M], None]) -> None:
        """Call `listener(old, new)` after each accepted update."""
        self._listeners.append(listener)

    def _changed(self, event: ConfigChangeEvent) -> None:
        try:
            new = self._build()
        except ValidationError as error:
            self._client._rejected(event.namespace)
            log.warning(
                "config update of namespace %s rejected, last good %s kept: %s",
                event.namespace,
                self.model.__name__,
                describe_errors(error),
            )
            return
        old, self.current = self.current, new
        for listener in list(self._listeners):
            try:
                listener(old, new)
            except Exception:
                log.exception("settings listener %r failed", listener)


class ApolloSettingsSource(EnvSettingsSource):
    """A pydantic-settings source over a config client: `db.url` keys fill nested fields.

    class Settings(BaseSettings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, *_):
            return (init_settings, env_settings, ApolloSettingsSource(settings_cls, client))
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        client: ConfigStore,
        *,
        namespaces: Sequence[str] | None = None,
        prefix: str = "",
    ) -> None:
        self._client = client
        self._namespaces = tuple(namespaces or client.namespaces)
        self._key_prefix = prefix
        super().__init__(settings_cls, case_sensitive=False, env_nested_delimiter=".")

    def _load_env_vars(self) -> Mapping[str, str | None]:
        merged = merged_properties(self._client, self._namespaces, self._key_prefix)
        return {key.lower(): value for key, value in merged.items()}

    def __repr__(self) -> str:
        return f"ApolloSettingsSource(namespaces={self._namespaces!r})"


__all__ = ["ApolloSettingsSource", "TypedSettings"]
