"""``eligibility serve``: run the service on uvicorn, with keys, limits and reload on SIGHUP.

Safe defaults: it binds to 127.0.0.1 (the county's reverse proxy, which terminates TLS, forwards to
it); every route but the health checks needs a key; with no keys file yet, it creates one with a key
for the system ``default`` and prints that key once. SIGHUP reloads the rules and the keys file; a
broken rule change is rejected with its diagnostics in the log and on ``/readyz``, and the running
rules keep answering.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import signal
import sys
from pathlib import Path
from typing import TextIO

import uvicorn

from .app import Limits, create_app
from .keys import add_key, revoke_key
from .state import State

__all__ = ["run"]

log = logging.getLogger("eligibility.service")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """The ``serve`` command (arguments as cli.py declares them); returns the exit code."""
    keys = Path(args.keys)
    # A bad keys file (KeyFileError) or bad rules (RuleFileError) propagate to cli.main, which prints
    # them the way every command does and exits with 1.
    if args.new_key:
        key = add_key(keys, args.new_key)
        print(f"新密钥（只显示这一次）/ new key (shown this once) for {args.new_key}:\n{key}", file=out)
        print(f"已写入其哈希 / its hash is in {keys}; 运行中的服务请发 SIGHUP / SIGHUP a running service", file=out)
        return 0
    if args.revoke_key:
        gone = revoke_key(keys, args.revoke_key)
        print(f"已删除 / removed key {gone.sha256[:12]}… of {gone.system}; 请发送 SIGHUP / send SIGHUP", file=out)
        return 0
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not keys.exists():
        key = add_key(keys, "default")
        print(
            f"没有密钥文件，已创建 {keys}，系统 default 的密钥（只显示这一次）/ no keys file: created {keys}; "
            f"the key of system `default` (shown this once):\n{key}",
            file=sys.stderr,
            flush=True,
        )
    state = State(args.rules_path or args.rules, keys)
    limits = Limits(
        max_body_bytes=args.max_body_bytes,
        max_batch_bytes=args.max_batch_bytes,
        max_batch_records=args.max_batch_records,
        rate_per_second=args.rate,
        burst=args.burst,
    )
    if not _loopback(args.host):
        log.warning(
            "监听非本机地址 %s：请置于县级反向代理（TLS）之后 / listening on %s, not loopback: keep it behind the "
            "county's reverse proxy with TLS",
            args.host,
            args.host,
        )
    config = uvicorn.Config(
        create_app(state, limits),
        host=args.host,
        port=args.port,
        access_log=False,  # the service logs one line per request itself, without query values
        server_header=False,
        log_level=args.log_level,
        log_config=None,  # keep the logging configured above
        timeout_graceful_shutdown=10,
    )
    _quiet_collector()
    asyncio.run(_serve(uvicorn.Server(config), state))
    return 0


def _quiet_collector() -> None:
    """Keep Python's cyclic garbage collector from stalling requests.

    The loaded rules, compiled programs and decision caches are hundreds of thousands of long-lived
    objects; a full collection walks them all (measured: p99 110–140 ms at 500 requests/s, against
    3 ms with the collector off, benchmarks/bench_service.py). They are moved out of its view
    (``gc.freeze``) once loaded, and the young generation is collected less often; reference counting
    still frees almost everything a request allocates at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def _serve(server: uvicorn.Server, state: State) -> None:
    """uvicorn's own loop, plus SIGHUP → reload in a worker thread (requests keep being answered)."""
    loop = asyncio.get_running_loop()
    if hasattr(signal, "SIGHUP"):
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, state.reload))
    await server.serve()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
