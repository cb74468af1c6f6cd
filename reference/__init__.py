"""The bundled reference XMPP server (with a XEP-0045 MUC service that behaves as Prosody's)."""
