"""The reference Multi-User Chat service (XEP-0045), behaving as Prosody 0.12.3's."""

from reference.muc.service import MUCService

__all__ = ["MUCService"]
