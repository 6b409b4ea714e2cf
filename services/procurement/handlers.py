"""What procurement reacts to: membership's events, which keep its own list of members.

Procurement never asks membership anything. From the usage service it keeps each library's
use of each agreement (``usage-reported``, the latest revision only), which the usage cost
model divides a billing period's cost by. Leaving the consortium also ends the library's
participation in every agreement on the same effective date, and ``agreement-left`` is
recorded for each in the same inbox transaction.
"""

from __future__ import annotations

import datetime as dt

from contracts.membership import KimppaUpdated, MemberJoined, MemberLeft, MemberUpdated
from contracts.usage import UsageReported
from kit.consumer import Delivery, Reactions
from services.procurement import commands
from services.procurement.deps import ProcurementDeps
from services.procurement.governance import commands as governance

reactions = Reactions()


def _today(delivery: Delivery) -> dt.date:
    """Today by the service's clock (``ProcurementDeps``), or the system's where a caller
    gives no dependencies (a handler called directly)."""
    deps = delivery.deps
    return deps.clock.today() if isinstance(deps, ProcurementDeps) else dt.date.today()


@reactions.on(MemberJoined)
async def add_member(delivery: Delivery, event: MemberJoined) -> None:
    await commands.member_joined(delivery.conn, event.library, event.joined_on)
    await governance.remember_kimppa(delivery.conn, event.library)


@reactions.on(MemberUpdated)
async def refresh_member(delivery: Delivery, event: MemberUpdated) -> None:
    await commands.member_updated(delivery.conn, event.library, event.is_member, _today(delivery))
    await governance.remember_kimppa(delivery.conn, event.library)


@reactions.on(KimppaUpdated)
async def refresh_kimppa(delivery: Delivery, event: KimppaUpdated) -> None:
    """A kimppa and its libraries now: a survey's audience "kimppa:<id>" asks these."""
    await governance.kimppa_updated(
        delivery.conn, event.kimppa_id, event.kimppa_name, event.libraries
    )


@reactions.on(MemberLeft)
async def leave_agreements(delivery: Delivery, event: MemberLeft) -> None:
    await commands.member_left(delivery.conn, event.library, event.effective_date, _today(delivery))


@reactions.on(UsageReported)
async def remember_usage(delivery: Delivery, event: UsageReported) -> None:
    """A library's use of an agreement in a month; a correction (a higher revision) replaces
    the figures, an older revision arriving late changes nothing. The inbox makes a
    redelivery a no-op."""
    await commands.usage_reported(delivery.conn, event)
