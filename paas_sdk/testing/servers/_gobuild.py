"""Build Go servers (kube-apiserver, etcd, CoreDNS) and fetch Go modules' files from the Go proxy.

`go install k8s.io/kubernetes/cmd/kube-apiserver@v…` cannot work: kubernetes' go.mod replaces
its staging modules (`k8s.io/api`, `k8s.io/client-go`, …) with `./staging/...` directories,
which a module download does not resolve. So the build writes a small module of its own that
requires `k8s.io/kubernetes` and replaces every staging module with the published one of the
matching `v0.<minor>.<patch>` tag, read from kubernetes' own go.mod, and builds there. Everything
Go downloads stays under the cache directory; the compiler's build cache is Go's default one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from paas_sdk.errors import HarnessError

# the staging modules that no published tag exists for and that no binary built here needs
_UNPUBLISHED_STAGING = {"k8s.io/sample-cli-plugin", "k8s.io/sample-controller"}
_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)
# the tool's output is kept this long in an error, enough for the compiler's first complaints
_ERROR_TAIL = 4000


class GoModules:
    """Runs `go` with its module cache and GOPATH under `root` (the harness's cache directory)."""

    def __init__(self, root: Path, where: str) -> None:
        self.root = root
        self.where = where
        go = shutil.which("go")
        if go is None:
            raise HarnessError(f"Go is not on PATH; {where} is built with it", where=where)
        self.go = go

    def env(self, **extra: str) -> dict[str, str]:
        return dict(
            os.environ,
            GOPATH=str(self.root / "go"),
            GOMODCACHE=str(self.root / "go" / "mod"),
            GOFLAGS="-modcacherw -mod=mod",
            GOTOOLCHAIN="local",
            CGO_ENABLED="0",
            **extra,
        )

    def run(self, args: list[str], cwd: Path, **extra: str) -> str:
        result = subprocess.run(
            [self.go, *args],
            cwd=cwd,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(
                f"go {' '.join(args[:2])} failed:\n{result.stderr[-_ERROR_TAIL:]}",
                where=self.where,
            )
        return result.stdout

    def download(self, module: str, version: str, cwd: Path) -> dict[str, str]:
        """`go mod download -json module@version`: its `Dir` (source) and `GoMod` (go.mod)."""
        info: dict[str, str] = json.loads(
            self.run(["mod", "download", "-json", f"{module}@{version}"], cwd=cwd)
        )
        return info


def build_kubernetes(target: Path, root: Path, kubernetes: str, etcd: str) -> None:
    """Build `kube-apiserver` (with its version stamped) and `etcd` into `target`.

    `kubernetes` is the release tag (`v1.37.2`), `etcd` the `go.etcd.io/etcd/server/v3` tag.
    """
    go = GoModules(root, "kubernetes")
    work = target / "module"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "go.mod").write_text("module paas-sdk.harness/kubernetes\n\ngo 1.26\n")
    gomod = Path(go.download("k8s.io/kubernetes", kubernetes, work)["GoMod"]).read_text()
    staging_version = "v0." + kubernetes.removeprefix("v").split(".", 1)[1]
    replaces = [
        f"\t{module} => {module} {staging_version}\n"
        for module in _STAGING_REPLACE.findall(gomod)
        if module not in _UNPUBLISHED_STAGING
    ]
    (work / "go.mod").write_text(
        "module paas-sdk.harness/kubernetes\n\ngo 1.26\n\n"
        f"require k8s.io/kubernetes {kubernetes}\n\nreplace (\n{''.join(replaces)})\n"
    )
    (work / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\nimport (\n"
        '\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n'
        '\t_ "go.etcd.io/etcd/server/v3"\n)\n'
    )
    go.run(["get", f"k8s.io/kubernetes/cmd/kube-apiserver@{kubernetes}"], cwd=work)
    go.run(["get", f"go.etcd.io/etcd/server/v3@{etcd}"], cwd=work)
    # clients refuse a server reporting the unstamped `v0.0.0-master+$Format:%H$`
    major, minor = kubernetes.removeprefix("v").split(".")[:2]
    stamps = [
        f"-X {package}.{name}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for name, value in (
            ("gitVersion", kubernetes),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    ]
    build = ["build", "-p", "2", "-trimpath"]
    go.run(
        [
            *build,
            "-ldflags",
            " ".join(stamps),
            "-o",
            str(target / "kube-apiserver"),
            "k8s.io/kubernetes/cmd/kube-apiserver",
        ],
        cwd=work,
    )
    go.run([*build, "-o", str(target / "etcd"), "go.etcd.io/etcd/server/v3"], cwd=work)
    shutil.rmtree(work, ignore_errors=True)


def build_coredns(target: Path, root: Path, version: str) -> None:
    """Build CoreDNS `version` (its default plugin set) into `target/coredns`."""
    go = GoModules(root, "coredns")
    work = target / "module"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "go.mod").write_text("module paas-sdk.harness/coredns\n\ngo 1.26\n")
    go.run(["get", f"github.com/coredns/coredns@{version}"], cwd=work)
    go.run(
        [
            "build",
            "-p",
            "2",
            "-trimpath",
            "-o",
            str(target / "coredns"),
            "github.com/coredns/coredns",
        ],
        cwd=work,
    )
    shutil.rmtree(work, ignore_errors=True)


def module_files(
    root: Path, module: str, version: str, *, subdir: str, names: tuple[str, ...], target: Path
) -> None:
    """Copy the files `names` under `subdir` of a Go module's source into `target`."""
    go = GoModules(root, module)
    target.mkdir(parents=True, exist_ok=True)
    source = Path(go.download(module, version, target)["Dir"]) / subdir
    for name in names:
        if not (source / name).is_file():
            raise HarnessError(f"{module}@{version} has no {subdir}/{name}", where=module)
        shutil.copyfile(source / name, target / name)
