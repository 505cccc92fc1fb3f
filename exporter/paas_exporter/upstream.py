"""The HTTP side of a poll: one httpx client per target, bounded concurrency, request counting,
and the checks that turn a bad answer (status, content type, JSON, shape) into `UpstreamError`.

Every call is bounded whole: `timeout` from connecting to the last byte (httpx's own timeouts
bound each read, so a server dripping a byte at a time would never trip them), and the answer is
streamed and dropped past `max_response_bytes` instead of being read into memory first.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from paas_exporter.config import GitSource, HarborTarget, JenkinsTarget, SpinnakerTarget
from paas_sdk.errors import UpstreamError

AnyTarget = HarborTarget | JenkinsTarget | SpinnakerTarget
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class Upstream:
    """GETs JSON from one target; counts requests and failed requests for the self-metrics."""

    def __init__(
        self,
        target: AnyTarget | GitSource,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | None = None,
    ):
        self.target = target
        self.timeout = timeout or target.timeout  # the delivery view's own, if given
        self.requests = 0
        self.errors = 0
        self._semaphore = asyncio.Semaphore(target.concurrency)
        username, password, token = target.auth.resolve(f"targets[{target.name}].auth")
        headers = {"Accept": "application/json", "User-Agent": "paas-exporter"}
        auth: httpx.BasicAuth | None = None
        if token is not None and username is not None:
            # Jenkins takes an API token only as Basic username:token and has no bearer scheme
            # for it (jenkinsci/jenkins
            # `core/src/main/java/jenkins/security/BasicHeaderApiTokenAuthenticator.java`);
            # a Harbor robot account's secret is sent the same way.
            auth = httpx.BasicAuth(username, token.get_secret_value())
        elif token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        elif username is not None:
            auth = httpx.BasicAuth(username, password.get_secret_value() if password else "")
        self.client = httpx.AsyncClient(
            base_url=target.url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=self.timeout,
            verify=_ssl_context(target),
            limits=httpx.Limits(max_connections=target.concurrency),
            transport=transport,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        missing_ok: bool = False,
        unavailable_ok: bool = False,
    ) -> tuple[Any, httpx.Headers]:
        """The decoded JSON body and headers of GET `path`; `UpstreamError` on anything odd.

        With `missing_ok`, a 404 (an endpoint older versions lack) gives `(None, headers)`; with
        `unavailable_ok`, so does a 5xx (where the target answers for a system behind it, such
        as a scanner adapter Harbor pings: that system being down is the answer).
        """
        where = f"{self.target.name}: GET {path}"
        async with self._semaphore:
            self.requests += 1
            try:
                async with asyncio.timeout(self.timeout):
                    status, headers, content = await self._fetch(path, params, where)
            except (TimeoutError, httpx.TimeoutException):
                self.errors += 1
                raise UpstreamError(
                    f"no complete answer within timeout ({self.timeout:g} s)",
                    where=where,
                    reason="timeout",
                ) from None
            except httpx.LocalProtocolError:
                # httpx puts the offending header in its message, and the only headers that are
                # not constant are the credentials: the message must not be passed on.
                self.errors += 1
                raise UpstreamError(
                    "the request could not be sent: a header holds an illegal character "
                    "(check the target's credentials)",
                    where=where,
                    reason="auth",
                ) from None
            except httpx.HTTPError as error:
                self.errors += 1
                detail = str(error) or error.__class__.__name__
                raise UpstreamError(
                    f"request failed: {detail}", where=where, reason="connect"
                ) from None
            except UpstreamError:
                self.errors += 1
                raise
        if (status == 404 and missing_ok) or (status >= 500 and unavailable_ok):
            return None, headers
        if status != 200:
            self.errors += 1
            reason = "auth" if status in (401, 403) else "http_5xx" if status >= 500 else "http_4xx"
            message = f"answered HTTP {status}"
            if 300 <= status < 400 and "location" in headers:
                # not followed (credentials would go wherever it leads); usually http:// for an
                # https:// server, which the target's url should name itself
                target = urlsplit(headers["location"])._replace(query="", fragment="").geturl()
                message += f", a redirect to {target}: put that address in the target's url"
            raise UpstreamError(message, where=where, reason=reason)
        try:
            return orjson.loads(content), headers
        except orjson.JSONDecodeError as error:
            self.errors += 1
            raise UpstreamError(f"malformed JSON: {error}", where=where) from None

    async def _fetch(
        self, path: str, params: Mapping[str, str | int] | None, where: str
    ) -> tuple[int, httpx.Headers, bytes]:
        """Status, headers and (for a 200 JSON answer) the body, read up to the size limit."""
        limit = self.target.max_response_bytes
        too_large = (
            f"answer exceeds max_response_bytes ({limit} bytes); raise "
            f"targets[{self.target.name}].max_response_bytes if it is genuine"
        )
        async with self.client.stream("GET", path, params=params) as response:
            if response.status_code != 200:
                return response.status_code, response.headers, b""
            content_type = response.headers.get("content-type", "")
            if "json" not in content_type:
                raise UpstreamError(
                    f"expected JSON, got content type {content_type!r}", where=where
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise UpstreamError(too_large, where=where)
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():  # decoded: a gzip bomb counts inflated
                size += len(chunk)
                if size > limit:
                    raise UpstreamError(too_large, where=where)
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    async def get_pages(
        self, path: str, page_size: int, params: Mapping[str, str | int] | None = None
    ) -> list[Any]:
        """Every item of a Harbor-style paged list: page 1 tells the total, the rest in parallel."""
        query = {**(params or {}), "page": 1, "page_size": page_size}
        first, headers = await self.get(path, query)
        items = expect_list(first, path)
        total_header = headers.get("x-total-count")
        if total_header is not None and total_header.isdigit():
            pages = -(-int(total_header) // page_size)
            rest = await asyncio.gather(
                *(self.get(path, {**query, "page": n}) for n in range(2, pages + 1))
            )
            for body, _ in rest:
                items.extend(expect_list(body, path))
            return items
        page = 1  # no total: follow the Link header one page at a time
        while _NEXT_LINK.search(headers.get("link", "")) and page < 10_000:
            page += 1
            body, headers = await self.get(path, {**query, "page": page})
            items.extend(expect_list(body, path))
        return items


def _ssl_context(target: AnyTarget | GitSource) -> ssl.SSLContext | bool:
    tls = target.tls
    if not tls.verify:
        return False
    if tls.ca_file is None and tls.cert_file is None:
        return _default_ssl_context()
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    return context


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """One context with the system's trusted CAs for every client that verifies with them: each
    context holds its own copy of the CA store (about 1 MB), and clients are made per target
    and made again after a failed poll. Files named in a target's `tls` are read afresh."""
    return httpx.create_ssl_context()


# -- shape checks for parsers: every mismatch is an UpstreamError naming where -----------------
def expect_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise UpstreamError(f"expected a JSON array, got {type(value).__name__}", where=where)
    return value


def expect_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UpstreamError(f"expected a JSON object, got {type(value).__name__}", where=where)
    return value


def number(value: Any, where: str, *, default: float | None = None) -> float:
    """A JSON number (bool excluded); None gives `default` when one is allowed."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UpstreamError(f"expected a number, got {value!r:.60}", where=where)
    return value


def identifier(value: Any, where: str) -> str:
    """A JSON integer id as text (ids are compared and sent back as query parameters)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UpstreamError(f"expected an integer id, got {value!r:.60}", where=where)
    return str(value)


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise UpstreamError(f"expected a string, got {value!r:.60}", where=where)
    return value
