"""Domain errors of procurement.

Every rule the domain enforces raises a subclass of :class:`ProcurementRuleViolated`. Each
error names the field it is about and the problem in words, so that:

- the HTTP layer can answer 422 for :class:`InvalidValue` and 409 for the others
  (the request was well formed, but the current state forbids it);
- event handlers can send the message to the dead-letter topic with a readable reason.
"""

from __future__ import annotations


class ProcurementRuleViolated(ValueError):
    """Base class: a procurement rule was broken. ``field`` names what was wrong."""

    #: Suggested HTTP status for the API layer; subclasses override it.
    http_status: int = 409

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class InvalidValue(ProcurementRuleViolated):
    """A value is malformed or out of range, whatever the state of anything else."""

    http_status = 422


class IllegalTransition(ProcurementRuleViolated):
    """A state machine (tender, agreement, participation) was asked for a forbidden move."""

    def __init__(self, entity: str, current: str, action: str) -> None:
        self.entity = entity
        self.current = current
        self.action = action
        super().__init__("state", f"cannot {action} a {entity} that is {current}")


class DuplicateEntry(ProcurementRuleViolated):
    """Something that must be unique already exists (interest, opt-in, term, test result)."""


class NotPermitted(ProcurementRuleViolated):
    """The value is valid but a business rule forbids it now (deadline, membership, terms)."""
