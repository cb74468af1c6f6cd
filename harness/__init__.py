"""scansion-py: run XMPP scenario scripts against a server and report what held."""

__version__ = "0.1.0"
