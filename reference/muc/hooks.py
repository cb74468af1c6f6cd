"""Named events with prioritised handlers: how feature modules plug into rooms.

A feature registers handlers on the room's life events (a join about to happen,
a config form being built, a message being broadcast...). Handlers run from the
highest priority down; the first to return something other than None stops the
event and its value is the result, which is how a feature vetoes an action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[["Event"], Any]


class Event:
    """The mutable payload handed to every handler of one firing."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:
        # Only called for fields the firing site did not provide.
        return None

    def __setattr__(self, name: str, value: Any) -> None:
        # Handlers and firing sites add fields as they go (declared for type checkers).
        self.__dict__[name] = value


class Hooks:
    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[int, int, Handler]]] = {}
        self._added = 0

    def on(self, name: str, handler: Handler, priority: int = 0) -> None:
        self._added += 1
        entries = self._handlers.setdefault(name, [])
        entries.append((-priority, self._added, handler))
        entries.sort(key=lambda entry: entry[:2])

    def fire(self, name: str, event: Event) -> Any:
        for _, _, handler in self._handlers.get(name, ()):
            result = handler(event)
            if result is not None:
                return result
        return None

    def has(self, name: str) -> bool:
        return name in self._handlers
