"""Dubbo URLs: encoded, sorted and parsed exactly as Dubbo's Java `URL` does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paas_sdk.errors import InvalidDubboURLError
from paas_sdk.registry import DubboURL, java_url_decode, java_url_encode

# registered by a Dubbo 3.1.4 Java provider (the Dubbo samples), as it appears in ZooKeeper
JAVA_PROVIDER = (
    "dubbo://30.221.146.35:20880/org.apache.dubbo.samples.api.GreetingsService?anyhost=true"
    "&application=first-dubbo-provider&background=false&deprecated=false&dubbo=2.0.2"
    "&dynamic=true&environment=product&generic=false"
    "&interface=org.apache.dubbo.samples.api.GreetingsService&methods=sayHi&pid=85639"
    "&release=3.1.4&service-name-mapping=true&side=provider&timestamp=1674960780647"
)


def test_java_urlencoder_rules() -> None:
    assert java_url_encode("a b*c~d/e:f,g=h&i") == "a+b*c%7Ed%2Fe%3Af%2Cg%3Dh%26i"
    assert java_url_encode("ü") == "%C3%BC"
    assert java_url_decode("a+b*c%7Ed%2Fe") == "a b*c~d/e"


def test_java_provider_url_round_trips_to_the_same_leaf() -> None:
    leaf = java_url_encode(JAVA_PROVIDER)
    url = DubboURL.decode(leaf)
    assert url.interface == "org.apache.dubbo.samples.api.GreetingsService"
    assert url.address == "30.221.146.35:20880"
    assert url.get("application") == "first-dubbo-provider"
    assert url.category == "providers"
    assert str(url) == JAVA_PROVIDER
    assert url.encoded() == leaf


def test_provider_url_carries_what_java_consumers_and_admin_read() -> None:
    url = DubboURL.provider(
        "com.acme.Greeter",
        "10.1.2.3",
        20880,
        application="greeter",
        methods=["greet", "bye"],
        group="blue",
        version="1.0.0",
        timestamp_ms=1700000000000,
        pid=42,
    )
    text = str(url)
    assert text.startswith("dubbo://10.1.2.3:20880/com.acme.Greeter?")
    params = [part.split("=")[0] for part in text.split("?")[1].split("&")]
    assert params == sorted(params)
    for expected in (
        "application=greeter",
        "side=provider",
        "methods=bye,greet",
        "dubbo=2.0.2",
        "release=",
        "timestamp=1700000000000",
        "pid=42",
        "dynamic=true",
        "serialization=hessian2",
        "interface=com.acme.Greeter",
        "group=blue",
        "version=1.0.0",
    ):
        assert expected in text
    assert DubboURL.parse(text) == url


def test_consumer_url_lives_under_consumers() -> None:
    url = DubboURL.consumer("com.acme.Greeter", "10.1.2.4", application="caller")
    assert str(url).startswith("consumer://10.1.2.4/com.acme.Greeter?")
    assert url.category == "consumers"
    assert url.get("side") == "consumer"
    assert url.get("check") == "false"


@pytest.mark.parametrize("bad", ["a&b", "a=b", "a;b", "a#b"])
def test_values_dubbo_cannot_carry_are_refused_with_the_key(bad: str) -> None:
    with pytest.raises(InvalidDubboURLError, match=r"'application'.*cannot carry"):
        DubboURL.provider("com.acme.Greeter", "10.1.2.3", 1, application=bad)


def test_a_group_list_with_a_semicolon_is_refused_not_misread() -> None:
    # Dubbo's URLStrParser would read group=g1;g2 as g1 and the rest as another parameter
    with pytest.raises(InvalidDubboURLError, match=r"'group'.*';'"):
        DubboURL.provider("com.acme.Greeter", "10.1.2.3", 1, application="a", group="g1;g2")


def test_without_methods_the_url_says_star_as_java_does() -> None:
    url = DubboURL.provider("com.acme.Greeter", "10.1.2.3", 1, application="a")
    assert url.get("methods") == "*"
    assert DubboURL.consumer("com.acme.Greeter", "10.1.2.4", application="a").get("methods") == "*"


@pytest.mark.parametrize("bad", ["com.acme&Greeter", "com.acme=Greeter", "com.acme;X", "a#b", ""])
def test_interface_names_dubbo_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(InvalidDubboURLError, match="interface"):
        DubboURL.provider(bad, "10.1.2.3", 1, application="x")


def test_matching_follows_group_version_and_enabled_rules() -> None:
    provider = DubboURL.provider("I", "h", 1, application="a", group="g1", version="1")

    def consumer(**params: str | None) -> DubboURL:
        return DubboURL.build("consumer", "h", 0, "I", {"interface": "I", **params})

    assert consumer(group="g1", version="1").matches(provider)
    assert consumer(group="*", version="*").matches(provider)
    assert consumer(group="g0,g1", version="1").matches(provider)
    assert not consumer(group="g2", version="1").matches(provider)
    assert not consumer(group="g1", version="2").matches(provider)
    assert not consumer(version="1").matches(provider)  # no group asked, provider has one
    assert not consumer(group="g1", version="1").matches(provider.with_parameters(enabled=False))
    other = DubboURL.provider("J", "h", 1, application="a", group="g1", version="1")
    assert not consumer(group="g1", version="1").matches(other)


@pytest.mark.parametrize(
    ("categories", "category", "matched"),
    [
        (None, "providers", True),
        (None, "routers", False),
        ("*", "routers", True),
        ("providers,routers", "routers", True),
        ("providers,routers", "configurators", False),
        # any "-name" makes it an exclusion list, as UrlUtils.isMatchCategory reads it
        ("-configurators", "providers", True),
        ("-configurators", "configurators", False),
        ("providers,-routers", "configurators", True),
        ("providers,-routers", "routers", False),
    ],
)
def test_categories_match_as_dubbo_matches_them(
    categories: str | None, category: str, matched: bool
) -> None:
    provider = DubboURL.provider("I", "h", 1, application="a").with_parameters(category=category)
    assert provider.category == category
    consumer = DubboURL.build("consumer", "h", 0, "I", {"interface": "I", "category": categories})
    assert consumer.matches(provider) is matched


_value = st.text(
    alphabet=st.characters(
        blacklist_characters="&=;#", blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")
    ),
    min_size=1,
    max_size=12,
)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9.\-]{0,10}", fullmatch=True), _value))
def test_any_carriable_url_round_trips_through_its_leaf(params: dict[str, str]) -> None:
    url = DubboURL.build("dubbo", "10.0.0.1", 20880, "com.acme.X", params)
    assert DubboURL.decode(url.encoded()) == url
    assert "/" not in url.encoded()
