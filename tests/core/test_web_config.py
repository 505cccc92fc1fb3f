"""TLS and basic auth from an exporter-toolkit web config, on the SDK's endpoints, the exporter
and `init()`: client certificates required and refused without, bcrypt users, certificates
rotated under a running server, and a clear error for every field that cannot be honoured."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
import yaml
from prometheus_client import CollectorRegistry, Counter

import paas_sdk
from paas_sdk.errors import ConfigError
from paas_sdk.metrics import HealthEndpoints, MetricsServer, load_web_config
from paas_sdk.platform import PlatformSettings
from paas_sdk.testing.servers.prometheus import PrometheusServer

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_ca() -> trustme.CA:
    return trustme.CA()


def write_cert(cert: trustme.LeafCert, directory: Path, name: str) -> tuple[Path, Path]:
    certificate, key = directory / f"{name}.crt", directory / f"{name}.key"
    for pem in cert.cert_chain_pems:
        pem.write_to_path(str(certificate), append=pem is not cert.cert_chain_pems[0])
    cert.private_key_pem.write_to_path(str(key))
    return certificate, key


def web_config(directory: Path, content: dict[str, object]) -> Path:
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.fixture
def tls_dir(tmp_path: Path, server_ca: trustme.CA, client_ca: trustme.CA) -> Path:
    write_cert(server_ca.issue_cert("127.0.0.1", "localhost"), tmp_path, "server")
    client_ca.cert_pem.write_to_path(str(tmp_path / "clients-ca.crt"))
    write_cert(client_ca.issue_cert("prometheus"), tmp_path, "client")
    return tmp_path


@contextlib.contextmanager
def serving(path: Path) -> Iterator[str]:
    registry = CollectorRegistry()
    Counter("orders_placed", "Orders placed.", registry=registry).inc()
    endpoints = HealthEndpoints(registry=registry)
    server = MetricsServer(endpoints, host="127.0.0.1", port=0, web_config=load_web_config(path))
    with server:
        yield f"127.0.0.1:{server.port}"


def client_context(server_ca: trustme.CA, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    server_ca.configure_trust(context)
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def test_a_required_client_certificate_is_checked_and_its_absence_refused(
    tls_dir: Path, server_ca: trustme.CA, client_ca: trustme.CA
) -> None:
    path = web_config(
        tls_dir,
        {
            "tls_server_config": {
                "cert_file": "server.crt",  # relative to the web config, as in exporter-toolkit
                "key_file": "server.key",
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": "clients-ca.crt",
            }
        },
    )
    stranger = write_cert(trustme.CA().issue_cert("intruder"), tls_dir, "stranger")
    with serving(path) as address:
        url = f"https://{address}/healthz"
        good = client_context(server_ca, (tls_dir / "client.crt", tls_dir / "client.key"))
        assert httpx.get(url, verify=good).text == "ok\n"
        for context in (client_context(server_ca), client_context(server_ca, stranger)):
            with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
                httpx.get(url, verify=context)
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
            httpx.get(f"http://{address}/healthz")
        # still serving the good client after the refusals
        assert httpx.get(url, verify=good).status_code == 200


def test_basic_auth_refuses_missing_and_wrong_credentials_and_accepts_right_ones(
    tmp_path: Path,
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    path = web_config(tmp_path, {"basic_auth_users": {"prometheus": hashed}})
    with serving(path) as address:
        url = f"http://{address}/metrics"
        anonymous = httpx.get(url)
        wrong = httpx.get(url, auth=("prometheus", "guess"))
        unknown = httpx.get(url, auth=("root", PASSWORD))
        right = httpx.get(url, auth=("prometheus", PASSWORD))
        again = httpx.get(url, auth=("prometheus", PASSWORD))  # answered from the cache
        with httpx.Client() as client:  # a HEAD refused leaves the connection usable
            head = client.head(url)
            after = client.get(url, auth=("prometheus", PASSWORD))
    for refused in (anonymous, wrong, unknown):
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Basic"
        assert refused.text == "Unauthorized\n"
    assert right.status_code == again.status_code == 200
    assert (head.status_code, head.content) == (401, b"")
    assert after.status_code == 200
    assert "orders_placed_total 1.0" in right.text


def test_a_password_longer_than_bcrypt_takes_is_refused(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = web_config(tmp_path, {"basic_auth_users": {"prometheus": hashed}})
    with serving(path) as address:
        url = f"http://{address}/metrics"
        for user in ("prometheus", "root"):
            refused = httpx.get(url, auth=(user, PASSWORD * 4))
            assert refused.status_code == 401
            assert refused.text == "Unauthorized\n"


def peer_certificate(address: str, server_ca: trustme.CA) -> bytes:
    host, port = address.split(":")
    context = client_context(server_ca)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def test_a_rotated_certificate_is_served_to_the_next_connection_and_a_broken_one_is_not(
    tmp_path: Path, server_ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    first = server_ca.issue_cert("127.0.0.1")
    write_cert(first, tmp_path, "server")
    path = web_config(
        tmp_path, {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"}}
    )
    with serving(path) as address:
        assert peer_certificate(address, server_ca) == der(first)
        second = server_ca.issue_cert("127.0.0.1")
        write_cert(second, tmp_path, "server")
        assert peer_certificate(address, server_ca) == der(second)
        # half a rotation (a new certificate, the old key) keeps the last good pair serving
        caplog.set_level(logging.ERROR, logger="paas_sdk.http")
        third = server_ca.issue_cert("127.0.0.1")
        for pem in third.cert_chain_pems:
            pem.write_to_path(
                str(tmp_path / "server.crt"), append=pem is not third.cert_chain_pems[0]
            )
        assert peer_certificate(address, server_ca) == der(second)
        assert any("web config not reloaded" in r.getMessage() for r in caplog.records)
        third.private_key_pem.write_to_path(str(tmp_path / "server.key"))
        assert peer_certificate(address, server_ca) == der(third)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"basic_auth_users": {"prometheus": "hunter2"}},
            "basic_auth_users.prometheus: expected a bcrypt hash",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "RequireAnyClientCert",
                }
            },
            "client_auth_type: RequireAnyClientCert (a certificate asked for but not verified) "
            "is not supported",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_ca_file": "clients-ca.crt",
                }
            },
            "client_ca_file is set but client_auth_type does not ask for client certificates",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "VerifyClientCertIfGiven",
                }
            },
            "client_auth_type: VerifyClientCertIfGiven needs client_ca_file",
        ),
        (
            {"tls_server_config": {"key_file": "server.key"}},
            "tls_server_config.cert_file is required",
        ),
        (
            {"tls_server_config": {"cert_file": "missing.crt", "key_file": "server.key"}},
            "cannot load cert_file",
        ),
        (
            {"tls_server_config": {"cert_file": "server.crt", "key_file": "client.key"}},
            "cannot load cert_file",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "cipher_suites": ["TLS_AES_128_GCM_SHA256"],
                }
            },
            "tls_server_config.cipher_suites: not supported by this server",
        ),
        (
            {"tls_server_config": {"cert_fil": "server.crt"}},
            "tls_server_config.cert_fil: unknown field",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "min_version": "TLS14",
                }
            },
            "tls_server_config.min_version: expected one of TLS10, TLS11, TLS12, TLS13, "
            "got 'TLS14'",
        ),
    ],
    ids=[
        "plain-password",
        "unverified-client-cert",
        "ca-without-client-auth",
        "client-auth-without-ca",
        "no-cert",
        "missing-file",
        "key-of-another-cert",
        "cipher-suites",
        "typo",
        "tls-version",
    ],
)
def test_a_web_config_that_cannot_be_honoured_names_the_file_and_the_field(
    tls_dir: Path, content: dict[str, object], message: str
) -> None:
    path = web_config(tls_dir, content)
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_the_exporter_serves_tls_and_basic_auth_from_its_web_config_flag(
    tls_dir: Path, server_ca: trustme.CA
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    web = web_config(
        tls_dir,
        {
            "tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
            "basic_auth_users": {"prometheus": hashed},
        },
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tls_dir / "exporter.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "listen": {"host": "127.0.0.1", "port": port},
                "targets": [{"name": "h", "kind": "harbor", "url": "http://127.0.0.1:9"}],
            }
        )
    )
    exporter_bin = str(Path(sys.executable).parent / "paas-exporter")
    bad = web_config(tls_dir / "..", {"basic_auth_users": {"prometheus": "hunter2"}})
    refused = subprocess.run(
        [exporter_bin, "--config", str(config), "--web.config.file", str(bad), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "basic_auth_users.prometheus: expected a bcrypt hash ($2y$...), not a password"
    )
    assert "Traceback" not in refused.stderr
    process = subprocess.Popen(
        [exporter_bin, "--config", str(config)],
        env={"PAAS_WEB_CONFIG_FILE": str(web), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"https://127.0.0.1:{port}/metrics"
        context = client_context(server_ca)
        deadline = time.monotonic() + 20
        while True:
            try:
                anonymous = httpx.get(url, verify=context)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        authorised = httpx.get(url, verify=context, auth=("prometheus", PASSWORD))
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert anonymous.status_code == 401
    assert authorised.status_code == 200
    assert "paas_exporter_target_up" in authorised.text
    assert (
        f"serving 1 target(s) on 127.0.0.1:{port}, TLS (client certificates: NoClientCert), "
        "basic auth for 1 user(s)"
    ) in output


def test_init_listens_on_the_metrics_host_with_the_web_config_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    path = web_config(tmp_path, {"basic_auth_users": {"prometheus": hashed}})
    settings = PlatformSettings(
        metrics_host="127.0.0.1", metrics_port=0, web_config_file=str(path), drain_seconds=0
    )
    caplog.set_level(logging.INFO, logger="paas_sdk")
    platform = paas_sdk.init(
        settings=settings,
        metrics_registry=CollectorRegistry(),
        configure_logging=False,
        load_config=False,
        install_signal_handlers=False,
    )
    try:
        assert platform.metrics_server is not None
        port = platform.metrics_server.port
        url = f"http://127.0.0.1:{port}/healthz"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, auth=("prometheus", PASSWORD)).text == "ok\n"
    finally:
        platform.shutdown()
    assert (
        f"metrics endpoints on 127.0.0.1:{port}, plain HTTP, basic auth for 1 user(s)"
        in caplog.messages
    )


def test_the_metrics_host_defaults_to_all_interfaces_and_the_startup_line_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="paas_sdk")
    platform = paas_sdk.init(
        settings=PlatformSettings(metrics_port=0, drain_seconds=0),
        metrics_registry=CollectorRegistry(),
        configure_logging=False,
        load_config=False,
        install_signal_handlers=False,
    )
    try:
        assert platform.metrics_server is not None
        port = platform.metrics_server.port
    finally:
        platform.shutdown()
    assert f"metrics endpoints on 0.0.0.0:{port} (all interfaces), plain HTTP, no auth" in (
        caplog.messages
    )


def test_a_real_prometheus_scrapes_through_client_certificates_and_basic_auth(
    prometheus: PrometheusServer, tls_dir: Path, server_ca: trustme.CA
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    path = web_config(
        tls_dir,
        {
            "tls_server_config": {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": "clients-ca.crt",
            },
            "basic_auth_users": {"prometheus": hashed},
        },
    )
    server_ca.cert_pem.write_to_path(str(tls_dir / "server-ca.crt"))
    (tls_dir / "password").write_text(PASSWORD)
    with serving(path) as address:
        prometheus.scrape(
            "tls-endpoints",
            [address],
            scheme="https",
            tls_config={
                "ca_file": str(tls_dir / "server-ca.crt"),
                "cert_file": str(tls_dir / "client.crt"),
                "key_file": str(tls_dir / "client.key"),
            },
            basic_auth={"username": "prometheus", "password_file": str(tls_dir / "password")},
        )
        try:
            prometheus.wait_for_targets_up("tls-endpoints", 1)
            scraped = prometheus.query('orders_placed_total{job="tls-endpoints"}')
        finally:
            prometheus.scrape("tls-endpoints", [])
    assert float(scraped[0]["value"][1]) == 1.0
