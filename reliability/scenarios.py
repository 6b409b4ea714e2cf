"""The scenarios, in the order they run. The demo runs first, on a fresh stack as a newcomer
runs it (its logs are scanned at the end); replay comes before the poison messages so that the
poison is not replayed into the dead-letter topics a second time; a kill in the middle of an
HTTP command follows the consumer kills; the supplier-file scenarios (faults a user causes:
a file cut short, the same file again, the catalogue killed mid-ingest) come before the replay,
so that the replay reads their events again too; the secrets scan comes last so that it reads
the logs of everything before it too."""

from __future__ import annotations

from reliability import authz, badinput, faults, poison, secrets, supplier
from reliability.suite import Scenario

SCENARIOS: list[tuple[str, Scenario]] = [
    ("demo", secrets.demo),
    ("broker_down", faults.broker_down),
    ("consumer_killed", faults.processes_killed),
    ("killed_mid_command", faults.killed_mid_command),
    ("database_restart", faults.database_restart),
    ("supplier_file_cut", supplier.cut_files),
    ("supplier_file_again", supplier.same_file_again),
    ("catalogue_killed_mid_ingest", supplier.killed_mid_ingest),
    ("replay", faults.replay),
    ("poison", poison.poison_messages),
    ("http_bad_input", badinput.bad_input),
    ("authorization", authz.authorization),
    ("secrets", secrets.secrets_in_logs),
]
