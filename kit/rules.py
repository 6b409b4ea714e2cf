"""Domain refusals: plain exceptions that a service's pure domain code may raise.

They carry no I/O and import nothing but the standard library, so ``domain.py`` can raise them
and stay pure. The HTTP layer never maps them by hand: the kit's app factory answers each with
its ``status`` as a problem+json that names ``field`` (see ``kit.errors``), and an event handler
that raises one dead-letters the message with the reason.

- :class:`NotFound` (404): the thing the request is about does not exist.
- :class:`RuleViolated` (422): a value is wrong in itself (a bad check digit, an unknown code,
  a named thing in the body that does not exist).
- :class:`Conflict` (409): the request is well formed, but the current state forbids it
  (joining twice, leaving when not a member, a forbidden state transition).

A service's own error classes subclass one of these; one may set a different ``status`` on a
subclass (or per instance) when a rule is better answered otherwise.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses. ``field`` names what to fix, ``str(error)`` says why."""

    #: The HTTP status the kit answers with; a subclass or an instance may set another.
    status: int = 422

    def __init__(
        self, message: str, *, field: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        if status is not None:
            self.status = status


class NotFound(DomainError):
    """The subject of the request does not exist: 404."""

    status = 404


class RuleViolated(DomainError):
    """A value breaks a rule whatever the state of anything else: 422."""

    status = 422


class Conflict(DomainError):
    """The current state forbids the request: 409."""

    status = 409
