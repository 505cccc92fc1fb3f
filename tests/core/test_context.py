"""The service's identity comes from documented variables, with clear errors and defaults."""

from __future__ import annotations

import pytest

import paas_sdk.context as context_module
from paas_sdk.context import ENV_VARS, ServiceContext
from paas_sdk.errors import ContextError, PaasError


def test_with_nothing_set_the_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/srv/bin/order-service.py"])
    context = ServiceContext.from_env({})
    assert context.app_id == "order-service"
    assert context.environment == "local"
    assert context.cluster == "default"
    assert context.pod_name is None
    assert not context.in_kubernetes
    assert context.host_name


def test_downward_api_variables_fill_the_pod_fields() -> None:
    context = ServiceContext.from_env(
        {
            "PAAS_APP_ID": "order-service",
            "PAAS_ENV": "PRO",
            "PAAS_CLUSTER": "sh-a",
            "PAAS_VERSION": "1.4.2",
            "POD_NAME": "order-service-7d9f-abcde",
            "POD_NAMESPACE": "shop",
            "NODE_NAME": "node-3.cluster.local",
            "POD_IP": "10.1.2.3",
            "POD_UID": "3f1c2a9e-1b2c-4d5e-8f90-0123456789ab",
            "HOSTNAME": "order-service-7d9f-abcde",
        }
    )
    assert context.model_dump() == {
        "app_id": "order-service",
        "environment": "PRO",
        "cluster": "sh-a",
        "version": "1.4.2",
        "pod_name": "order-service-7d9f-abcde",
        "namespace": "shop",
        "node_name": "node-3.cluster.local",
        "pod_ip": "10.1.2.3",
        "pod_uid": "3f1c2a9e-1b2c-4d5e-8f90-0123456789ab",
        "host_name": "order-service-7d9f-abcde",
    }
    assert context.in_kubernetes


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POD_IP", "10.1.2"),
        ("PAAS_APP_ID", "order service"),
        ("POD_NAMESPACE", "Shop_Prod"),
        ("PAAS_ENV", "pro&debug"),
        ("PAAS_VERSION", "1.0 beta"),
        ("POD_UID", "not-a-uid!"),
    ],
)
def test_a_malformed_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ContextError) as caught:
        ServiceContext.from_env({variable: value})
    assert caught.value.where == variable
    assert str(caught.value).startswith(f"{variable}: expected")
    assert repr(value) in str(caught.value)


def test_blank_variables_count_as_unset() -> None:
    context = ServiceContext.from_env({"PAAS_ENV": "  ", "POD_IP": ""})
    assert context.environment == "local"
    assert context.pod_ip is None


def test_ipv6_pod_addresses_are_accepted_and_normalised() -> None:
    assert ServiceContext.from_env({"POD_IP": "FD00:0::1"}).pod_ip == "fd00::1"


def test_the_context_is_immutable() -> None:
    context = ServiceContext.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        context.app_id = "other"


def test_every_field_has_a_documented_variable() -> None:
    assert set(ENV_VARS) == set(ServiceContext.model_fields)
    documentation = context_module.__doc__ or ""
    assert all(f"``{var}``" in documentation for var in ENV_VARS.values())


def test_errors_read_as_where_then_what() -> None:
    error = ContextError("expected an IPv4 or IPv6 address, got '1.2'", where="POD_IP")
    assert isinstance(error, PaasError)
    assert str(error) == "POD_IP: expected an IPv4 or IPv6 address, got '1.2'"
    assert str(PaasError("plain")) == "plain"
