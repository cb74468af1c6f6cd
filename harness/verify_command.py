"""`scansion-py verify HOST`: run the bundled suites against one server, from a plain install.

The one-line answer to "does this server conform?": `scansion-py verify
xmpp.example.org --domain example.org`. It is `run` on the suites shipped in the
package, against HOST (port 5222 unless HOST:PORT says otherwise, `reference`
for the embedded server), with the profile the flags or `--profile` give. Without
`--domain` (or a `--profile` naming it) it says which profile fields it needs,
before connecting.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from harness.discovery import bundled_suites
from harness.run_command import EXIT_USAGE, add_run_options, run_command
from harness.targets import REFERENCE

DEFAULT_PORT = 5222


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="run the bundled suites against a server",
        description="Run the suites bundled with scansion-py against one XMPP server. "
        "It needs the server's address (HOST or HOST:PORT, port 5222 by default; "
        "'reference' for the embedded server) and its XMPP domain (--domain, profile field "
        "'domain'); the MUC service defaults to conference.DOMAIN (--muc, field 'muc'). "
        "Actors log in as ${unique:NAME}@DOMAIN with any password (--accounts any), so the "
        "server must accept any password, or a profile must give accounts "
        "(--accounts given, [accounts.actors.NAME]).",
    )
    parser.add_argument("host", metavar="HOST[:PORT]", help="the server to verify, or 'reference'")
    add_run_options(parser)
    parser.set_defaults(func=verify_command)


def verify_command(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    if args.host != REFERENCE and not args.domain and args.profile is None:
        err.print(
            "scansion-py verify: which XMPP domain does the server serve? Give --domain "
            "DOMAIN (profile field 'domain'); the MUC service is conference.DOMAIN unless "
            "--muc JID (field 'muc') says otherwise.",
            markup=False,
            soft_wrap=True,
        )
        return EXIT_USAGE
    address = args.host
    if address != REFERENCE and ":" not in address.rpartition("]")[2]:
        address = f"{address}:{DEFAULT_PORT}"
    args.targets = [address]
    args.paths = [bundled_suites()]
    return run_command(args)
