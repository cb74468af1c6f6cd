"""`scansion-py serve`: run the reference server in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from reference.config import SERVE_LIMITS, ConfigError, ServerConfig, load_accounts, load_config

DEFAULT_PORT = 5222
EXIT_CONFIG = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the bundled reference XMPP server (with its MUC service)",
        description="Run the reference XMPP server in the foreground; Ctrl-C stops it. "
        "Without --accounts any user logs in with any password (PLAIN).",
    )
    parser.add_argument("--port", type=int, help=f"c2s port (default {DEFAULT_PORT})")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--config", type=Path, help="TOML file with ServerConfig settings")
    parser.add_argument(
        "--accounts", type=Path, help='TOML file of accounts (user = "password"); enables SCRAM'
    )
    parser.add_argument("--no-muc", action="store_true", help="run without the MUC service")
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="no per-connection rate limit (10 kB/s, 25 kB burst) and no per-address "
        "failed-login limit (10 a minute), as the embedded target runs",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every stanza in and out")
    parser.set_defaults(func=serve)


def build_config(args: argparse.Namespace) -> ServerConfig:
    defaults = {} if args.no_limits else SERVE_LIMITS
    if args.config:
        config = load_config(args.config, defaults)
    else:
        config = ServerConfig(port=DEFAULT_PORT, **defaults)
    if args.port is not None:
        config.port = args.port
    if args.host is not None:
        config.host = args.host
    if args.accounts is not None:
        config.accounts = load_accounts(args.accounts, config.domain)
    if args.no_muc:
        config.muc_host = None
    config.log_stanzas = args.verbose
    return config


def serve(args: argparse.Namespace) -> int:
    from rich.logging import RichHandler

    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"scansion-py serve: {exc}")
        return EXIT_CONFIG
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, markup=False)],
    )
    _use_uvloop()
    try:
        asyncio.run(_run(config))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"scansion-py serve: cannot listen on {config.host}:{config.port}: {exc.strerror}")
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"scansion-py serve: {exc}")
        return EXIT_CONFIG
    return 0


async def _run(config: ServerConfig) -> None:
    from reference.server import ReferenceServer

    server = ReferenceServer(config)
    await server.start()
    mode = (
        "any user, any password" if config.accounts is None else f"{len(config.accounts)} accounts"
    )
    logging.getLogger("reference").info(
        "reference server for %s on %s:%d (%s%s); Ctrl-C stops it",
        config.domain,
        config.host,
        server.port,
        mode,
        f", MUC at {config.muc_host}" if config.muc_host else "",
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
        logging.getLogger("reference").info("stopped")


def _use_uvloop() -> None:
    """The process-wide event loop choice belongs to the command, not the embedded server."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
