"""What a platform's security review checks in deploy/ and the exporter's image: the Pod Security
"restricted" profile, NetworkPolicies letting only Prometheus reach the metrics ports, secrets as
owner-only files, bounded scratch space, a PodDisruptionBudget, images and dependencies pinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.test_manifests import DEPLOY, by_kind

ROOT = DEPLOY.parent
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}

# The Pod Security Standards, restricted profile
# (kubernetes/website content/en/docs/concepts/security/pod-security-standards.md; enforced by
# k8s.io/pod-security-admission/policy/check_*.go).
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:  # noqa: PLR0912 - one per control
    """Every control of the restricted profile `pod` (a pod spec) breaks, by name."""
    found = []
    security = pod.get("securityContext", {})
    containers = [
        *pod.get("initContainers", []),
        *pod["containers"],
        *pod.get("ephemeralContainers", []),
    ]
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"host namespaces: {field}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume types: {volume['name']} is {', '.join(sorted(kinds))}")
    for sysctl in security.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"sysctls: {sysctl['name']}")
    contexts = [security, *(c.get("securityContext", {}) for c in containers)]
    for context in contexts:
        options = context.get("seLinuxOptions", {})
        if (
            options.get("type", "") not in SELINUX_TYPES
            or options.get("user")
            or options.get("role")
        ):
            found.append("SELinux")
        if context.get("appArmorProfile", {}).get("type", "RuntimeDefault") == "Unconfined":
            found.append("AppArmor")
        if context.get("runAsUser") == 0:
            found.append("running as non-root user: runAsUser 0")
        if context.get("seccompProfile", {}).get("type") == "Unconfined":
            found.append("seccomp: Unconfined")
    for container in containers:
        name = container["name"]
        context = container.get("securityContext", {})
        if context.get("privileged"):
            found.append(f"privileged: {name}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"host ports: {name}")
        if context.get("procMount", "Default") != "Default":
            found.append(f"/proc mount type: {name}")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"privilege escalation: {name}")
        if context.get("runAsNonRoot", security.get("runAsNonRoot")) is not True:
            found.append(f"running as non-root: {name}")
        seccomp = context.get("seccompProfile", security.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"seccomp: {name}")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"capabilities: {name} does not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"capabilities: {name} adds more than NET_BIND_SERVICE")
    return found


def test_the_checker_finds_what_the_restricted_profile_forbids() -> None:
    pod = {
        "hostNetwork": True,
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "containers": [
            {
                "name": "bad",
                "ports": [{"containerPort": 80, "hostPort": 80}],
                "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
            }
        ],
    }
    assert restricted_violations(pod) == [
        "host namespaces: hostNetwork",
        "volume types: root is hostPath",
        "privileged: bad",
        "host ports: bad",
        "privilege escalation: bad",
        "running as non-root: bad",
        "seccomp: bad",
        "capabilities: bad does not drop ALL",
        "capabilities: bad adds more than NET_BIND_SERVICE",
    ]


def test_the_namespace_enforces_the_restricted_profile_and_every_workload_meets_it(
    overlay: list[dict[str, Any]],
) -> None:
    namespace = next(o for o in overlay if o["kind"] == "Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {o["metadata"]["namespace"] for o in overlay if o["kind"] != "Namespace"} == {
        namespace["metadata"]["name"]
    }
    deployments = by_kind(overlay, "Deployment")
    assert deployments
    for name, deployment in deployments.items():
        assert restricted_violations(deployment["spec"]["template"]["spec"]) == [], name


def admits(rule: dict[str, Any], port: dict[str, Any]) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") in (port["name"], port["containerPort"]) for p in ports)


def test_only_prometheus_reaches_the_metrics_ports(overlay: list[dict[str, Any]]) -> None:
    policies = list(by_kind(overlay, "NetworkPolicy").values())
    for name, deployment in by_kind(overlay, "Deployment").items():
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        selecting = [
            p
            for p in policies
            if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
            and "Ingress" in p["spec"]["policyTypes"]
        ]
        assert selecting, f"no NetworkPolicy selects {name}"
        metrics = next(
            port for port in template["spec"]["containers"][0]["ports"] if port["name"] == "metrics"
        )
        rules = [r for p in selecting for r in p["spec"].get("ingress", []) if admits(r, metrics)]
        assert rules, f"{name}: Prometheus cannot scrape"
        for rule in rules:
            assert rule.get("from") == [PROMETHEUS], f"{name}: metrics open beyond Prometheus"


def test_secrets_are_owner_only_files_never_environment_variables(
    overlay: list[dict[str, Any]],
) -> None:
    mounted = 0
    for name, deployment in by_kind(overlay, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for variable in container.get("env", []):
                assert "secretKeyRef" not in variable.get("valueFrom", {}), (name, variable)
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, name
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o400, (name, volume["name"])
                assert pod["securityContext"]["fsGroup"], name  # so the non-root owner reads it
                mounted += 1
    assert mounted == 2


def test_the_services_zookeeper_password_is_a_file_of_its_mounted_secret(
    overlay: list[dict[str, Any]],
) -> None:
    pod = by_kind(overlay, "Deployment")["order-service"]["spec"]["template"]["spec"]
    platform = next(
        c for c in by_kind(overlay, "ConfigMap").values() if "PAAS_ZOOKEEPER" in c.get("data", {})
    )["data"]
    volume = next(v for v in pod["volumes"] if "secret" in v)
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    secret = by_kind(overlay, "Secret")[volume["secret"]["secretName"]]
    password_file = Path(platform["PAAS_ZOOKEEPER_PASSWORD_FILE"])
    assert str(password_file.parent) == mount["mountPath"]
    assert password_file.name in secret["stringData"]
    assert platform["PAAS_ZOOKEEPER_USERNAME"]


def test_scratch_space_and_ephemeral_storage_are_bounded(overlay: list[dict[str, Any]]) -> None:
    for name, deployment in by_kind(overlay, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        for volume in pod.get("volumes", []):
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), (name, volume["name"])
        for container in pod["containers"]:
            resources = container["resources"]
            assert "ephemeral-storage" in resources["requests"], name
            assert "ephemeral-storage" in resources["limits"], name


def test_the_multi_replica_service_has_a_disruption_budget(overlay: list[dict[str, Any]]) -> None:
    budgets = by_kind(overlay, "PodDisruptionBudget")
    for name, deployment in by_kind(overlay, "Deployment").items():
        if deployment["spec"]["replicas"] < 2:
            continue
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [
            b
            for b in budgets.values()
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, name
        spec = matching[0]["spec"]
        assert (
            spec.get("maxUnavailable") == 1
            or 0 < spec.get("minAvailable", 0) < deployment["spec"]["replicas"]
        )


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_image_is_pinned_and_built_from_the_hashed_lock_file() -> None:
    dockerfile = (ROOT / "exporter" / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert bases
    for base in bases:
        assert re.fullmatch(r"[^@\s]+@sha256:[0-9a-f]{64}", base), base
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "example-config" not in dockerfile  # the config is mounted, never baked in
    installs = re.findall(r"pip install[^\n]*(?:\\\n[^\n]*)*", dockerfile)
    for install in installs:
        assert "--require-hashes" in install or "--no-deps" in install, install

    lock = (ROOT / "exporter" / "requirements.lock").read_text()
    pinned: dict[str, int] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock):
        line = block.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9_.-]+)==\S+", line)
        assert match, f"not pinned: {line.splitlines()[0]}"
        pinned[match.group(1).lower().replace("_", "-")] = len(re.findall(r"--hash=sha256:", line))
    assert all(count > 0 for count in pinned.values()), pinned
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        _requirement_name(r)
        for r in [*project["dependencies"], *project["optional-dependencies"]["exporter"]]
    }
    assert wanted <= set(pinned), wanted - set(pinned)


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    from tests.deploy.test_manifests import build

    return build(DEPLOY / "overlays" / "example")
