"""The room features, one module each; every module has `register(hooks)`.

Registration order decides the order of equal-priority handlers, hence of
disco features and form fields that share a priority.
"""

from __future__ import annotations

from types import ModuleType

from reference.muc.features import (
    adhoc,
    admin,
    archive,
    config_limits,
    config_sections,
    core_rules,
    description,
    disco,
    history,
    invites,
    language,
    lock,
    members_only,
    moderated,
    name,
    occupant_id,
    owner,
    password,
    persistent,
    presence_broadcast,
    public,
    register,
    service_disco,
    subject,
    tombstones,
    voice_request,
    whois,
)

FEATURES: tuple[ModuleType, ...] = (
    occupant_id,
    name,
    password,
    whois,
    core_rules,
    moderated,
    members_only,
    public,
    register,
    persistent,
    voice_request,
    subject,
    language,
    description,
    lock,
    config_limits,
    config_sections,
    presence_broadcast,
    history,
    archive,
    invites,
    tombstones,
    admin,
    owner,
    disco,
    service_disco,
    adhoc,
)
