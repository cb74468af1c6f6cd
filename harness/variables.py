"""The run's own variables: `${domain}`, `${muc}`, `${room}` and `${unique:NAME}`.

The target profile gives the domain and the MUC service; `${room}` and
`${unique:NAME}` are fresh for every run of a script (a random token shared by
all of them in that run), so a suite can run again, or in parallel jobs, on one
long-lived server without two runs meeting in the same room or account. Fresh
values are lower case: servers normalise JID localparts to lower case
(nodeprep), and a script compares what the server sends back.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

DOMAIN = "domain"
MUC = "muc"
ROOM = "room"
NAMES = (DOMAIN, MUC, ROOM)
UNIQUE = re.compile(r"unique:(?P<name>[A-Za-z0-9_.-]+)")
HELP = "${domain}, ${muc}, ${room}, ${unique:NAME}, ${Name's JID} or ${Name's full JID}"


def is_run_variable(name: str) -> bool:
    """Whether `${name}` is one of the run's own variables (not an actor's address)."""
    return name in NAMES or UNIQUE.fullmatch(name) is not None


def fresh_token() -> str:
    """Eight random hex digits: collisions between runs are a one in four billion chance."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class RunVariables:
    """The values one run of one script substitutes for the run's own variables."""

    domain: str = "localhost"
    muc: str = "conference.localhost"
    token: str = field(default_factory=fresh_token)

    def lookup(self, name: str) -> str | None:
        """The value of `${name}`, or None when it is not a run variable."""
        if name == DOMAIN:
            return self.domain
        if name == MUC:
            return self.muc
        if name == ROOM:
            return f"room-{self.token}"
        unique = UNIQUE.fullmatch(name)
        if unique is not None:
            return f"{unique['name'].lower()}-{self.token}"
        return None
