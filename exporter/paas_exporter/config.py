"""The exporter's YAML config: targets (Harbor, Jenkins, Spinnaker), credentials, TLS, filters.

`load_config(path)` returns a validated `ExporterConfig` or raises `ExporterConfigError` whose
message names the file, each offending field and what was expected. Credentials are read from
environment variables or files at load time and held as `SecretStr`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from paas_sdk.errors import ExporterConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Credentials(_Strict):
    """Basic auth (username + password, or username + token as Jenkins takes its API tokens)
    or a bearer token (a token alone), each secret from an env var or a file."""

    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    token_env: str | None = None
    token_file: Path | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> Credentials:
        given = [
            n
            for n in ("password_env", "password_file", "token_env", "token_file")
            if getattr(self, n) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give only one of {', '.join(given)}")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("a password needs a username")
        return self

    def resolve(self, where: str) -> tuple[str | None, SecretStr | None, SecretStr | None]:
        """(username, password, token) with the secrets read now; errors name the source."""

        def read(env: str | None, file: Path | None, field: str) -> SecretStr | None:
            if env is not None:
                value = os.environ.get(env)
                if value is None:
                    raise ExporterConfigError(
                        f"{where}.{field}: environment variable {env} is not set", where=None
                    )
                return checked(value, f"environment variable {env}", field)
            if file is not None:
                try:
                    content = file.read_text().strip()
                except OSError as error:
                    raise ExporterConfigError(
                        f"{where}.{field}: cannot read {file}: {error.strerror}"
                    ) from None
                except UnicodeDecodeError as error:
                    raise ExporterConfigError(
                        f"{where}.{field}: {file} is not UTF-8 text (byte {error.start})"
                    ) from None
                return checked(content, f"file {file}", field)
            return None

        def checked(value: str, source: str, field: str) -> SecretStr:
            # A secret is sent in a header: a control character (a newline pasted with it) makes
            # httpx refuse the request with the whole header, secret included, in its message.
            # Refused here, naming where it came from and never the value.
            bad = next((c for c in value if ord(c) < 0x20 or ord(c) == 0x7F), None)
            if bad is not None:
                raise ExporterConfigError(
                    f"{where}.{field}: {source} holds a control character "
                    f"(U+{ord(bad):04X}); a secret must be a single line",
                    where=None,
                )
            if field.startswith("token") and not value.isascii():
                # A bearer token goes into the header verbatim, and header values are ASCII.
                raise ExporterConfigError(
                    f"{where}.{field}: {source} holds a non-ASCII character; a token must be ASCII",
                    where=None,
                )
            return SecretStr(value)

        password = read(
            self.password_env,
            self.password_file,
            "password_env" if self.password_env else "password_file",
        )
        token = read(
            self.token_env, self.token_file, "token_env" if self.token_env else "token_file"
        )
        return self.username, password, token


class TLS(_Strict):
    verify: bool = True
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> TLS:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file")
        return self


class Filters(_Strict):
    """Regular expressions matched against the whole name (job full name, project, application)."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"a regular expression, got {pattern!r} ({error})") from None
        return patterns

    def matcher(self) -> NameFilter:
        return NameFilter(self.include, self.exclude)


class NameFilter:
    """Keeps a name when it matches an include pattern (or there are none) and no exclude one."""

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        # Compiled one by one, as validated: joined into one alternation, a pattern with global
        # flags (`(?i)prod-.*`) or two patterns naming the same group would not compile.
        self._include = [re.compile(p) for p in include]
        self._exclude = [re.compile(p) for p in exclude]

    def __call__(self, name: str) -> bool:
        if self._include and not any(p.fullmatch(name) for p in self._include):
            return False
        return not any(p.fullmatch(name) for p in self._exclude)


# An answer bigger than this is refused: far above what a page of Harbor projects or a Jenkins
# tree of thousands of jobs weighs, far below the exporter's memory limit.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class _Target(_Strict):
    """`timeout` bounds each call whole (connect to last byte); `poll_timeout` a whole poll
    (default: three calls' worth, or the interval if longer); `max_response_bytes` each answer."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]
    auth: Credentials = Field(default_factory=Credentials)
    tls: TLS = Field(default_factory=TLS)
    interval: Annotated[float, Field(gt=0, le=86400)] = 30.0
    timeout: Annotated[float, Field(gt=0, le=600)] = 10.0
    poll_timeout: Annotated[float | None, Field(gt=0, le=86400)] = None
    max_response_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = DEFAULT_MAX_RESPONSE_BYTES
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    filters: Filters = Field(default_factory=Filters)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        if "@" in url.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "credentials in the URL are refused (they would show on the landing page and in "
                "logs); give them in auth.password_file or auth.token_file"
            )
        return url

    @property
    def poll_deadline(self) -> float:
        return poll_deadline(self.timeout, self.interval, self.poll_timeout)


def poll_deadline(timeout: float, interval: float, poll_timeout: float | None = None) -> float:
    """How long one whole poll may take: `poll_timeout`, else three calls' worth or the interval."""
    return poll_timeout or max(timeout * 3, interval)


class HarborTarget(_Target):
    kind: Literal["harbor"]
    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    # High-cardinality groups are opt-in.
    repository_pulls: bool = False


class JenkinsTarget(_Target):
    kind: Literal["jenkins"]
    folder_depth: Annotated[int, Field(ge=1, le=10)] = 3


class SpinnakerTarget(_Target):
    kind: Literal["spinnaker"]
    execution_window: Annotated[float, Field(gt=0, le=30 * 86400)] = 86400.0
    search_page_size: Annotated[int, Field(ge=1, le=1000)] = 200


AnyTarget = HarborTarget | JenkinsTarget | SpinnakerTarget
Target = Annotated[HarborTarget | JenkinsTarget | SpinnakerTarget, Field(discriminator="kind")]

DAY = 86400.0
#: The tutorial's `<tag>_<yyyymmdd_HHMM>`: the build's start, UTC, to the minute.
DEFAULT_TAG_PATTERN = r"^(?P<version>.+)_(?P<built>\d{8}_\d{4})$"


class GitSource(_Target):
    """A GitLab or Gitee server asked for commit times Jenkins does not know."""

    kind: Literal["gitlab", "gitee"]
    #: Hosts of the remote URLs Jenkins' Git plugin reports that this server answers for
    #: (default: the host of `url`).
    hosts: list[str] = Field(default_factory=list)


class DeliveryConfig(_Strict):
    """The delivery view: Spinnaker deploys linked to Harbor images, Jenkins builds and commits."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)] = "delivery"
    spinnaker: str
    harbor: str
    jenkins: str
    interval: Annotated[float, Field(gt=0, le=86400)] = 60.0
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    #: A whole poll; the first reads the whole history (a request per repository and per job).
    poll_timeout: Annotated[float | None, Field(gt=0, le=86400)] = None
    #: Seconds of upstream history the rolling gauges cover; their 1d, 7d and 30d windows are
    #: exported only as far as it reaches (under 30 days: no 30d series).
    history: Annotated[float, Field(ge=DAY, le=90 * DAY)] = 30 * DAY
    applications: Filters = Field(default_factory=Filters)
    #: Environment name -> regular expressions for the Spinnaker accounts deploying to it.
    environments: Annotated[dict[str, list[str]], Field(min_length=1)]
    #: Registry host as image references name it (default: the Harbor target's host).
    registry: str | None = None
    tag_pattern: str = DEFAULT_TAG_PATTERN
    #: Jenkins job full name for a Harbor repository: {project}, {repository}, {application}.
    jenkins_job: str = "{project}/{repository}"
    failure_window: Annotated[float, Field(gt=0, le=30 * DAY)] = 2 * 3600.0
    deploy_stages: list[str] = Field(default_factory=lambda: ["deployManifest", "deploy"])
    rollback_stages: list[str] = Field(
        default_factory=lambda: ["undoRolloutManifest", "rollbackCluster"]
    )
    verification_stages: list[str] = Field(
        default_factory=lambda: ["kayentaCanary", "runJobManifest"]
    )
    git: list[GitSource] = Field(default_factory=list)
    #: Where counted executions and counter values survive restarts (none: a restart counts
    #: only what completes after it, the rolling gauges still cover the whole history).
    state_file: Path | None = None
    #: Executions per search page; expanded executions carry their manifests, so pages are
    #: kept small (the first poll's memory peak is about one page).
    search_page_size: Annotated[int, Field(ge=10, le=1000)] = 50

    @property
    def kind(self) -> str:
        return "delivery"

    @property
    def poll_deadline(self) -> float:
        return poll_deadline(self.timeout, self.interval, self.poll_timeout)

    @field_validator("environments")
    @classmethod
    def _accounts(cls, environments: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, patterns in environments.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise ValueError(f"environment names are letters, digits, '.', '_', '-': {name!r}")
            if not patterns:
                raise ValueError(f"environment {name!r} needs at least one account pattern")
            Filters(include=patterns)
        return environments

    @field_validator("tag_pattern")
    @classmethod
    def _tag_pattern(cls, pattern: str) -> str:
        try:
            groups = re.compile(pattern).groupindex
        except re.error as error:
            raise ValueError(f"a regular expression, got {pattern!r} ({error})") from None
        if "built" not in groups and "number" not in groups:
            raise ValueError("needs a named group `built` (yyyymmdd_HHMM) or `number`")
        return pattern

    @field_validator("jenkins_job")
    @classmethod
    def _job_template(cls, template: str) -> str:
        try:
            template.format(project="p", repository="r", application="a")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"placeholders are {{project}}, {{repository}}, {{application}}: {error}"
            ) from None
        return template


class Listen(_Strict):
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 9877


class ExporterConfig(_Strict):
    listen: Listen = Field(default_factory=Listen)
    probe: bool = False
    targets: Annotated[list[Target], Field(min_length=1)]
    delivery: DeliveryConfig | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> ExporterConfig:
        seen: set[str] = set()
        for target in self.targets:
            if target.name in seen:
                raise ValueError(f"target names must be unique, {target.name!r} repeats")
            seen.add(target.name)
        if self.delivery is not None:
            kinds = {t.name: t.kind for t in self.targets}
            for kind in ("spinnaker", "harbor", "jenkins"):
                name = getattr(self.delivery, kind)
                if kinds.get(name) != kind:
                    raise ValueError(f"delivery.{kind}: no {kind} target named {name!r}")
            if self.delivery.name in seen:
                raise ValueError(f"delivery.name {self.delivery.name!r} is also a target's name")
        return self

    def target(self, name: str) -> AnyTarget:
        return next(t for t in self.targets if t.name == name)


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("harbor", "jenkins", "spinnaker", "gitlab", "gitee") and path.endswith("]"):
            continue  # pydantic's discriminated-union branch name, not a field
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _describe(error: Any) -> str:  # noqa: PLR0911 - one answer per pydantic error type
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        return "expected kind harbor, jenkins or spinnaker, got " + repr(error["input"]["kind"])
    if kind == "too_short":
        return "expected at least one entry"
    if kind == "union_tag_not_found":
        return "expected a `kind` (harbor, jenkins or spinnaker)"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) else f", got {got!r}"
    if kind == "string_pattern_mismatch":
        field = str(error["loc"][-1])
        wanted = PATTERN_WORDS.get(field, message)
        return f"expected {wanted}{shown}"
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    if message.startswith("Input should be "):
        message = message[len("Input should be ") :]
    return f"expected {message}{shown}"


PATTERN_WORDS = {
    "url": "an http:// or https:// URL",
    "name": "a name of letters, digits, '.', '_' or '-'",
}


def parse_config(data: Any, source: str, *, check_files: bool = False) -> ExporterConfig:
    """Validate already-parsed YAML; `source` names the file in messages.

    Secrets are read now, always. `check_files=True` (``--check``) also opens every TLS file, so
    that a deployment missing a mount learns it before it runs; a running exporter instead marks
    only the target whose files cannot be read as down.
    """
    try:
        config = ExporterConfig.model_validate(data)
    except ValidationError as error:
        lines = [f"{_field_path(e['loc'])}: {_describe(e)}" for e in error.errors()]
        raise ExporterConfigError(
            "invalid config:\n  " + "\n  ".join(lines), where=source
        ) from None
    sources = [(f"targets[{i}].auth", t.auth) for i, t in enumerate(config.targets)]
    if config.delivery is not None:
        sources += [(f"delivery.git[{i}].auth", g.auth) for i, g in enumerate(config.delivery.git)]
    # every secret and file the exporter will need, checked now and reported together: a
    # deployment missing two mounts learns both from one --check, not one per restart
    problems = []
    for where, auth in sources:
        try:
            auth.resolve(where)
        except ExporterConfigError as error:
            problems.append(error.message)
    for i, target in enumerate(config.targets if check_files else ()):
        tls = target.tls
        for field in ("ca_file", "cert_file", "key_file"):
            path = getattr(tls, field)
            if path is None:
                continue
            try:
                with open(path, "rb"):
                    pass
            except OSError as error:
                problems.append(f"targets[{i}].tls.{field}: cannot read {path}: {error.strerror}")
    state_file = config.delivery.state_file if config.delivery is not None else None
    if check_files and state_file is not None:
        problem = _unwritable_directory(state_file)
        if problem:
            problems.append(f"delivery.state_file: {problem}")
    if len(problems) == 1:
        raise ExporterConfigError(problems[0], where=source)
    if problems:
        raise ExporterConfigError(
            f"{len(problems)} problems:\n  " + "\n  ".join(problems), where=source
        )
    return config


def _unwritable_directory(path: Path) -> str | None:
    """Why the state file could not be saved beside itself, if so. The view writes a temporary
    file there and renames it over the old one after each poll, so the directory must take a new
    file: a read-only root filesystem with no volume there fails every poll. A file is really
    created (and removed): permission bits alone do not tell (root, ACLs, NFS root squash)."""
    directory = path.parent
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=f".{path.name}."):
            pass
    except OSError as error:
        return f"cannot write in {directory}: {error.strerror or error}"
    return None


def read_file(path: Path, what: str) -> bytes:
    """A file the exporter needs; `ExporterConfigError` naming it and why when unreadable."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise ExporterConfigError(
            f"cannot read {what}: {error.strerror}", where=str(path)
        ) from None


def load_config(path: str | Path, *, check_files: bool = False) -> ExporterConfig:
    """The config file, validated (`parse_config`)."""
    path = Path(path)
    try:
        text = read_file(path, "config").decode()
    except UnicodeDecodeError as error:
        raise ExporterConfigError(
            f"not UTF-8 text: byte {error.start} is {error.object[error.start]:#04x}",
            where=str(path),
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ExporterConfigError(f"not valid YAML{at}: {problem}", where=str(path)) from None
    if not isinstance(data, dict):
        raise ExporterConfigError(
            "expected a mapping with `targets` at the top level", where=str(path)
        )
    return parse_config(data, str(path), check_files=check_files)
