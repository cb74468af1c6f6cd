"""The XMPP protocol layer shared by the harness and the reference server.

Stream parsing, namespaces, JIDs and SASL: what both a client and a server of
XMPP need. It imports neither `harness` nor `reference`; both import it.
"""
