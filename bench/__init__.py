"""Load generator and scenarios comparing the reference server with Prosody and ejabberd."""
