"""XMPP protocol pieces shared by the harness's client and the reference server."""
