"""`python -m paas_sdk.testing.servers`: fetch the real test servers into the cache directory."""

from __future__ import annotations

import argparse
import sys

from paas_sdk.errors import HarnessError
from paas_sdk.testing.servers.cache import Cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m paas_sdk.testing.servers",
        description="Fetch the real test servers into the cache directory (PAAS_CACHE_DIR).",
    )
    parser.add_argument(
        "--check", action="store_true", help="fetch nothing; exit 1 when something is missing"
    )
    args = parser.parse_args(argv)
    cache = Cache.default()
    if args.check:
        missing = cache.missing()
        print(
            f"cache {cache.root}: " + (f"missing {', '.join(missing)}" if missing else "complete")
        )
        return 1 if missing else 0
    try:
        fetched = cache.ensure_all(log=lambda message: print(message, flush=True))
    except HarnessError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 1
    print(
        f"cache {cache.root}: "
        + (f"fetched {', '.join(fetched)}" if fetched else "complete, nothing downloaded")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
