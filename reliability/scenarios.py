"""The scenarios, in the order they run. The demo runs first, on a fresh stack as a newcomer
runs it (its logs are scanned at the end); replay comes before the poison messages so that the
poison is not replayed into the dead-letter topics a second time; a kill in the middle of an
HTTP command follows the consumer kills; the secrets scan comes last so that it reads the logs
of everything before it too."""

from __future__ import annotations

from reliability import authz, badinput, faults, poison, secrets
from reliability.suite import Scenario

SCENARIOS: list[tuple[str, Scenario]] = [
    ("demo", secrets.demo),
    ("broker_down", faults.broker_down),
    ("consumer_killed", faults.processes_killed),
    ("killed_mid_command", faults.killed_mid_command),
    ("database_restart", faults.database_restart),
    ("replay", faults.replay),
    ("poison", poison.poison_messages),
    ("http_bad_input", badinput.bad_input),
    ("authorization", authz.authorization),
    ("secrets", secrets.secrets_in_logs),
]
