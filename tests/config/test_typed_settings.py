"""Typed settings bound to namespaces, the pydantic-settings source, and the file client."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from paas_sdk.config import (
    ApolloClient,
    ApolloSettingsSource,
    ConfigSource,
    FileConfigClient,
    TypedSettings,
)
from paas_sdk.errors import ConfigFormatError, ConfigValidationError
from paas_sdk.testing.apollo import ApolloDouble
from tests.config.conftest import APP, Events, sample, wait_until

MakeClient = Callable[..., ApolloClient]


class Database(BaseModel, frozen=True):
    url: str
    pool_size: int = 5
    password: SecretStr = SecretStr("")


class OrderSettings(BaseModel, frozen=True):
    db: Database
    feature_x: bool = False
    timeout_seconds: float = 1.0


def test_dotted_keys_fill_nested_fields_across_namespaces(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"db.url": "pg://a", "db.pool_size": "7"})
    apollo.publish(APP, "flags.yaml", "feature_x: true\ndb:\n  url: pg://ignored\n")
    client = make_client(namespaces=["application", "flags.yaml"]).start()
    settings = TypedSettings(OrderSettings, client)
    assert settings.current.db == Database(url="pg://a", pool_size=7)  # first namespace wins
    assert settings.current.feature_x is True


def test_update_swaps_a_new_instance_and_keeps_old_ones_intact(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"db.url": "pg://a"})
    settings = TypedSettings(OrderSettings, make_client().start())
    before = settings.current
    swaps: list[tuple[OrderSettings, OrderSettings]] = []
    settings.on_change(lambda old, new: swaps.append((old, new)))
    apollo.publish(APP, "application", {"db.url": "pg://b", "timeout_seconds": "2.5"})
    wait_until(lambda: bool(swaps))
    assert settings.current.db.url == "pg://b"
    assert settings.current.timeout_seconds == 2.5
    assert before.db.url == "pg://a"
    assert swaps == [(before, settings.current)]


def test_invalid_update_is_rejected_logged_and_counted(
    apollo: ApolloDouble,
    make_client: MakeClient,
    metrics: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apollo.publish(APP, "application", {"db.url": "pg://a", "db.password": "hunter2"})
    settings = TypedSettings(OrderSettings, make_client().start())
    good = settings.current
    apollo.publish(
        APP, "application", {"db.url": "pg://b", "db.pool_size": "many", "db.password": "hunter3"}
    )
    wait_until(
        lambda: sample(metrics, "paas_config_rejected_updates_total", namespace="application") == 1
    )
    assert settings.current is good
    rejection = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejection) == 1
    assert "db.pool_size" in rejection[0]
    assert "hunter3" not in caplog.text


def test_invalid_configuration_at_bind_time_is_a_validation_error(
    apollo: ApolloDouble, make_client: MakeClient
) -> None:
    apollo.publish(APP, "application", {"feature_x": "perhaps"})
    with pytest.raises(ConfigValidationError, match=r"db: Field required.*feature_x"):
        TypedSettings(OrderSettings, make_client().start())


def test_pydantic_settings_source(apollo: ApolloDouble, make_client: MakeClient) -> None:
    apollo.publish(APP, "application", {"db.url": "pg://src", "db.pool_size": "9"})
    client = make_client().start()

    class Settings(BaseSettings):
        db: Database = Database(url="unset")
        feature_x: bool = False

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, ApolloSettingsSource(settings_cls, client))

    settings = Settings()
    assert settings.db.url == "pg://src"
    assert settings.db.pool_size == 9
    assert Settings(feature_x=True).feature_x is True


def test_file_client_reads_and_picks_up_changes(tmp_path: Path, metrics: CollectorRegistry) -> None:
    (tmp_path / "application.properties").write_text("db.url=pg://file\n# comment\n")
    (tmp_path / "flags.yaml").write_text("feature_x: false\n")
    client = FileConfigClient.from_directory(tmp_path, poll_interval=0.05, metrics=metrics)
    with client.start():
        settings = TypedSettings(OrderSettings, client)
        assert settings.current.db.url == "pg://file"
        assert client.source is ConfigSource.FILE
        events = Events()
        client.add_change_listener(events)
        path = tmp_path / "flags.yaml"
        path.write_text("feature_x: true\n")
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
        [event] = events.wait_for(1)
        assert event.namespace == "flags.yaml"
        wait_until(lambda: settings.current.feature_x)
        assert sample(metrics, "paas_config_source", namespace="flags.yaml", source="file") == 1


def test_file_client_keeps_last_good_on_a_broken_edit(
    tmp_path: Path, metrics: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "paas_sdk.config")
    path = tmp_path / "app.json"
    path.write_text('{"db": {"url": "pg://j"}}')
    with FileConfigClient([path], poll_interval=0.05, metrics=metrics).start() as client:
        path.write_text('{"db": {"url": ')
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
        wait_until(
            lambda: sample(metrics, "paas_config_sync_errors_total", namespace="app.json") == 1
        )
        assert client.get("db.url") == "pg://j"
    assert "invalid JSON at line 1" in caplog.text


def test_file_client_start_fails_on_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(ConfigFormatError, match=r"broken.yaml: invalid YAML"):
        FileConfigClient([path], metrics=CollectorRegistry()).start()


def test_two_clients_of_one_namespace_share_one_set_of_series(tmp_path: Path) -> None:
    # Prometheus refuses a scrape with two samples of one series: two clients serving a
    # namespace called `application` add up into one series per metric.
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    metrics = CollectorRegistry()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = tmp_path / "a" / "application.properties"
    second = tmp_path / "b" / "application.properties"
    first.write_text("x=1\n")
    second.write_text("x=2\n")
    with (
        FileConfigClient([first], metrics=metrics).start(),
        FileConfigClient([second], metrics=metrics).start() as other,
    ):
        other._sync_failed("application")
        samples = [
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for family in text_string_to_metric_families(generate_latest(metrics).decode())
            for s in family.samples
            if s.name.startswith("paas_config_")
        ]
        keys = [(name, labels) for name, labels, _ in samples]
        assert len(keys) == len(set(keys)), samples
        assert ("paas_config_sync_errors_total", (("namespace", "application"),), 1.0) in samples
    # closed clients serve nothing: their series go
    assert "paas_config_source{" not in generate_latest(metrics).decode()
