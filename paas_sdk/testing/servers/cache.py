"""Put the real test servers into the cache directory; a second run downloads nothing.

ZooKeeper and Kafka come from Maven Central as jars with their dependencies, Elasticsearch as its
`integ-test-zip` distribution (also from Maven Central), Prometheus and promtool from Debian's
`prometheus` package. Everything Maven fetches stays under the cache directory (its own local
repository included), so keeping that one directory keeps every download.

    python -m paas_sdk.testing.servers            # fetch what is missing
    python -m paas_sdk.testing.servers --check    # exit 1 if something is missing
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers._gobuild import build_coredns, build_kubernetes, module_files

ZOOKEEPER_VERSION = "3.9.4"
KAFKA_VERSION = "4.1.1"
ELASTICSEARCH_VERSION = "8.19.4"
# the Java Dubbo consumer the registry's interop test runs (not a server: a client and its jars)
DUBBO_VERSION = "3.3.5"
# protoc for the Java stubs of the Triple interop tests: the protobuf-java runtime Dubbo brings
PROTOC_VERSION = "3.25.7"
# builds the kustomize output that deploy/'s tests validate; from the Go module proxy
KUSTOMIZE_VERSION = "v5.6.0"
# the API server and etcd that `paas-dash apply` and deploy/'s tests talk to, and CoreDNS, whose
# metrics the platform's rules watch; all built from the Go module proxy (see _gobuild)
KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.7.0"
COREDNS_VERSION = "v1.14.7"
# the PrometheusRule and ServiceMonitor CRDs (deploy/ has both), files of the operator's module
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
OPERATOR_CRDS = (
    "monitoring.coreos.com_prometheusrules.yaml",
    "monitoring.coreos.com_servicemonitors.yaml",
)
# bumped when the set of jars fetched for a server changes, so a stale cache is refetched
_ZOOKEEPER_LAYOUT = 2

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>paas-sdk.harness</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
_DEPENDENCY = """    <dependency>
      <groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version>{exclusions}
    </dependency>"""
_EXCLUSION = "<exclusion><groupId>{group}</groupId><artifactId>{artifact}</artifactId></exclusion>"


@dataclass(frozen=True)
class Cache:
    """Where downloaded servers live: `PAAS_CACHE_DIR`, else `~/.cache/paas-sdk`."""

    root: Path

    @classmethod
    def default(cls) -> Cache:
        configured = os.environ.get("PAAS_CACHE_DIR")
        base = Path(configured) if configured else Path.home() / ".cache" / "paas-sdk"
        return cls(base.expanduser().resolve())

    @property
    def zookeeper_libs(self) -> Path:
        return self.root / f"zookeeper-{ZOOKEEPER_VERSION}-{_ZOOKEEPER_LAYOUT}" / "libs"

    @property
    def kafka_libs(self) -> Path:
        return self.root / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def elasticsearch_home(self) -> Path:
        return self.root / f"elasticsearch-{ELASTICSEARCH_VERSION}"

    @property
    def dubbo_libs(self) -> Path:
        return self.root / f"dubbo-{DUBBO_VERSION}" / "libs"

    @property
    def dubbo_compiler(self) -> Path:
        """protoc and Dubbo's Triple stub generator (`dubbo-compiler`) with its jars in `libs/`."""
        return self.root / f"dubbo-compiler-{DUBBO_VERSION}"

    @property
    def kustomize(self) -> Path:
        return self.root / f"kustomize-{KUSTOMIZE_VERSION}" / "kustomize"

    @property
    def kubernetes_bin(self) -> Path:
        """kube-apiserver and etcd; keyed on the Go version too, which the binaries embed."""
        return self.root / f"kubernetes-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-{_go_version()}"

    @property
    def coredns(self) -> Path:
        return self.root / f"coredns-{COREDNS_VERSION}-{_go_version()}" / "coredns"

    @property
    def operator_crds(self) -> Path:
        return self.root / f"prometheus-operator-crds-{PROMETHEUS_OPERATOR_VERSION}"

    @property
    def operator_crd_files(self) -> list[Path]:
        """The PrometheusRule and ServiceMonitor CRDs, for `KubernetesCluster(crds=...)`."""
        return [self.operator_crds / name for name in OPERATOR_CRDS]

    @property
    def maven_repository(self) -> Path:
        return self.root / "m2"

    # -- what is there ---------------------------------------------------------------------
    def missing(self) -> list[str]:
        """Names of the components that a run of `ensure_all()` would fetch."""
        wanted = {
            "zookeeper": _complete(self.zookeeper_libs.parent),
            "kafka": _complete(self.kafka_libs.parent),
            "elasticsearch": _complete(self.elasticsearch_home),
            "dubbo": _complete(self.dubbo_libs.parent),
            "dubbo_compiler": _complete(self.dubbo_compiler),
            "kustomize": _complete(self.kustomize.parent),
            "kubernetes": _complete(self.kubernetes_bin),
            "coredns": _complete(self.coredns.parent),
            "operator_crds": _complete(self.operator_crds),
            "prometheus": shutil.which("prometheus") is not None
            and shutil.which("promtool") is not None,
        }
        return [name for name, present in wanted.items() if not present]

    def require(self, component: str) -> None:
        if component in self.missing():
            raise HarnessError(
                f"{component} is not in the cache {self.root}; run"
                " `python -m paas_sdk.testing.servers` first",
                where=component,
            )

    # -- fetching --------------------------------------------------------------------------
    def ensure_all(self, log: Callable[[str], None] = print) -> list[str]:
        """Fetch every missing component; return the names of those fetched."""
        fetched = []
        for name in self.missing():
            started = time.monotonic()
            log(f"fetching {name} ...")
            getattr(self, f"_fetch_{name}")()
            log(f"fetched {name} in {time.monotonic() - started:.0f} s")
            fetched.append(name)
        return fetched

    def _fetch_zookeeper(self) -> None:
        self._maven_libs(
            self.zookeeper_libs.parent,
            "zookeeper",
            [
                ("org.apache.zookeeper", "zookeeper", ZOOKEEPER_VERSION),
                # optional in ZooKeeper's POM, yet the server needs them for metrics and snapshots
                ("io.dropwizard.metrics", "metrics-core", "4.1.12.1"),
                ("org.xerial.snappy", "snappy-java", "1.1.10.5"),
                ("org.slf4j", "slf4j-simple", "2.0.13"),
            ],
        )

    def _fetch_kafka(self) -> None:
        self._maven_libs(
            self.kafka_libs.parent,
            "kafka",
            [
                ("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
                # Kafka's POM leaves the logging binding to the distribution; it speaks slf4j 1.7
                ("org.slf4j", "slf4j-simple", "1.7.36"),
            ],
        )

    def _fetch_dubbo(self) -> None:
        self._maven_libs(
            self.dubbo_libs.parent,
            "dubbo",
            [
                ("org.apache.dubbo", "dubbo", DUBBO_VERSION),
                # Dubbo's ZooKeeper registry needs Curator 5 and a ZooKeeper client on its classpath
                ("org.apache.curator", "curator-x-discovery", "5.7.1"),
                ("org.apache.zookeeper", "zookeeper", ZOOKEEPER_VERSION),
                ("org.slf4j", "slf4j-simple", "2.0.13"),
            ],
            # the ZooKeeper client talks NIO; its Netty 4.1 jars would shadow Dubbo's Netty 4.2
            exclusions={
                "zookeeper": ["io.netty:netty-handler", "io.netty:netty-transport-native-epoll"]
            },
        )

    def _fetch_dubbo_compiler(self) -> None:
        target = self.dubbo_compiler
        self._maven_libs(
            target, "dubbo-compiler", [("org.apache.dubbo", "dubbo-compiler", DUBBO_VERSION)]
        )
        (target / ".complete").unlink()
        self._mvn(
            [
                "dependency:copy",
                f"-Dartifact=com.google.protobuf:protoc:{PROTOC_VERSION}:exe:linux-x86_64",
                f"-DoutputDirectory={target}",
            ],
            cwd=target,
        )
        protoc = target / f"protoc-{PROTOC_VERSION}-linux-x86_64.exe"
        protoc.chmod(protoc.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        protoc.rename(target / "protoc")
        _mark_complete(target)

    def _fetch_elasticsearch(self) -> None:
        target = self.elasticsearch_home
        downloads = self.root / "downloads"
        coordinates = (
            "org.elasticsearch.distribution.integ-test-zip:elasticsearch:"
            f"{ELASTICSEARCH_VERSION}:zip"
        )
        self._mvn(
            ["dependency:copy", f"-Dartifact={coordinates}", f"-DoutputDirectory={downloads}"],
            cwd=self.root,
        )
        archive = downloads / f"elasticsearch-{ELASTICSEARCH_VERSION}.zip"
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        _extract_zip(archive, staging)
        inner = staging / f"elasticsearch-{ELASTICSEARCH_VERSION}"
        shutil.rmtree(target, ignore_errors=True)
        (inner if inner.is_dir() else staging).rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink()
        _mark_complete(target)

    def _fetch_prometheus(self) -> None:
        if os.geteuid() != 0:
            raise HarnessError(
                "Prometheus is not installed and installing it needs root:"
                " run `apt-get install prometheus`",
                where="prometheus",
            )
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise HarnessError(
                    f"apt-get install failed:\n{result.stderr[-2000:]}", where="prometheus"
                )

    def _fetch_kustomize(self) -> None:
        go = shutil.which("go")
        if go is None:
            raise HarnessError("Go is not on PATH; kustomize is built with it", where="kustomize")
        target = self.kustomize.parent
        target.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            GOBIN=str(target),
            GOPATH=str(self.root / "go"),
            GOMODCACHE=str(self.root / "go" / "mod"),
            GOFLAGS="-modcacherw",
        )
        result = subprocess.run(
            [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(f"go install failed:\n{result.stderr[-3000:]}", where="kustomize")
        _mark_complete(target)

    def _fetch_kubernetes(self) -> None:
        self.kubernetes_bin.mkdir(parents=True, exist_ok=True)
        build_kubernetes(self.kubernetes_bin, self.root, KUBERNETES_VERSION, ETCD_VERSION)
        _mark_complete(self.kubernetes_bin)

    def _fetch_coredns(self) -> None:
        self.coredns.parent.mkdir(parents=True, exist_ok=True)
        build_coredns(self.coredns.parent, self.root, COREDNS_VERSION)
        _mark_complete(self.coredns.parent)

    def _fetch_operator_crds(self) -> None:
        module_files(
            self.root,
            "github.com/prometheus-operator/prometheus-operator",
            PROMETHEUS_OPERATOR_VERSION,
            subdir="example/prometheus-operator-crd",
            names=OPERATOR_CRDS,
            target=self.operator_crds,
        )
        _mark_complete(self.operator_crds)

    def _maven_libs(
        self,
        target: Path,
        name: str,
        artifacts: list[tuple[str, str, str]],
        exclusions: dict[str, list[str]] | None = None,
    ) -> None:
        """Copy the artifacts and their runtime dependencies into `target/libs`.

        `exclusions` maps an artifact id to the `group:artifact` dependencies to leave out of it.
        """
        target.mkdir(parents=True, exist_ok=True)
        excluded = exclusions or {}
        dependencies = "\n".join(
            _DEPENDENCY.format(
                group=g,
                artifact=a,
                version=v,
                exclusions=(
                    "<exclusions>"
                    + "".join(
                        _EXCLUSION.format(group=x.split(":")[0], artifact=x.split(":")[1])
                        for x in excluded[a]
                    )
                    + "</exclusions>"
                    if a in excluded
                    else ""
                ),
            )
            for g, a, v in artifacts
        )
        (target / "pom.xml").write_text(_POM.format(name=name, dependencies=dependencies))
        staging = target / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        self._mvn(
            [
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            cwd=target,
        )
        shutil.rmtree(target / "libs", ignore_errors=True)
        staging.rename(target / "libs")
        _mark_complete(target)

    def _mvn(self, goals: list[str], cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        mvn = shutil.which("mvn")
        if mvn is None:
            raise HarnessError("Maven (mvn) is not on PATH", where="bootstrap")
        result = subprocess.run(
            [mvn, "-B", "-q", f"-Dmaven.repo.local={self.maven_repository}", *goals],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(
                f"mvn {goals[0]} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}",
                where=str(cwd),
            )


@functools.cache
def _go_version() -> str:
    go = shutil.which("go")
    if go is None:
        return "go-missing"
    result = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "go-unknown"


def _complete(path: Path) -> bool:
    return (path / ".complete").exists()


def _mark_complete(path: Path) -> None:
    (path / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))


def _extract_zip(archive: Path, target: Path) -> None:
    """Unzip keeping the executable bits, which `zipfile` alone drops."""
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            path = Path(bundle.extract(member, target))
            mode = (member.external_attr >> 16) & 0o777
            if mode and not stat.S_ISLNK(member.external_attr >> 16):
                path.chmod(mode)
