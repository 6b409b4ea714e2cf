"""Events published by the procurement service on ``konsortio.procurement``.

Tender events are keyed by tender id, agreement and participation events by agreement id
(so a library's joining never overtakes the agreement's signing), and needs by need id.
Each carries what consumers need: outreach mails interested libraries from ``tender-opened``
without asking procurement who they are; catalogue builds collections from ``agreement-signed``.

Bids, compatibility tests and quality scores are not published: they are confidential until
the procurement decision. ``tender-awarded`` v2 is that decision under the Act on Public
Procurement (1397/2016): the chosen bid per lot, the rejected bids with their grounds, when
the decision was served and when its standstill ends. Version 1 is still published beside
it so that its readers keep working; it never reports an override, because there is none.

Dates follow the procurement domain: a period's ``start`` and ``end`` are both days in force;
an *effective* date (``left_on``, ``effective_on``) is the first day no longer in force, as
in membership's ``member-left``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from contracts.base import Event, Payload

MaterialType = Literal[
    "e-book", "e-audiobook", "e-magazine", "e-newspaper", "streaming-video", "music", "database"
]
LicenceModel = Literal["annual-fee", "per-loan", "per-title"]
CostShareModel = Literal["per-capita", "base-plus-per-capita", "equal"]
#: Every cost model, the ones added after ``CostShareModel`` was published included.
CostModel = Literal[
    "per-capita", "base-plus-per-capita", "equal", "population-bands", "per-resident"
]
#: Every cost model of ``agreement-signed`` and ``invoice-lines-issued`` v2: v1's, and
#: ``usage`` (each participant's share of the agreement's use in the period), which v1's
#: enums cannot carry without breaking a reader that validates them.
CostModelV2 = Literal[
    "per-capita", "base-plus-per-capita", "equal", "population-bands", "per-resident", "usage"
]
Procedure = Literal["open", "restricted", "negotiated", "national", "call-off"]
ThresholdClass = Literal["below-national", "national", "eu"]


class TenderDocument(Payload):
    kind: Literal["invitation-to-tender", "contract-draft", "price-form"]
    version: int = Field(ge=1)
    sha256: str = Field(description="SHA-256 of the content, hex")
    media_type: str


class PurchasingBody(Payload):
    """The central purchasing body or procurement unit running the tender."""

    name: str
    business_id: str | None = None
    reference: str | None = None


class Supplier(Payload):
    name: str
    country: str = Field(description="ISO 3166-1 alpha-2 code")


class TermValue(Payload):
    """One licence term as FOLIO models it: a typed value and an optional note.

    Keys of ``licence_terms`` are the term names of procurement's catalogue
    (``concurrent_users``, ``loan_period_days``, ``drm``, ``annual_opt_out``, ...); a
    ``permitted_status`` value is one of permitted, permitted_under_conditions, prohibited,
    unmentioned. A ``number`` value is an integer, or ``"unlimited"`` for a term a licence
    may leave without limit (concurrent users, loans per licence, renewals). A term the bid
    did not state is absent."""

    type: Literal["number", "permitted_status", "text", "choice"]
    value: int | str
    note: str = ""
    label: str | None = Field(None, description="Human-readable name, e.g. 'Concurrent users'")


class AgreementPeriod(Payload):
    start: dt.date
    end: dt.date = Field(description="Last day in force")
    cancellation_deadline: dt.date | None = None


class NeedProposed(Event):
    """A member library proposed a material need for a joint tender."""

    name = "need-proposed"
    producer = "procurement"
    key_field = "need_id"

    need_id: str
    proposed_by: str = Field(description="ISIL")
    material_type: MaterialType
    description: str
    accepted_licence_models: list[str] = Field(description="annual-fee, per-loan, per-title")
    required_devices: list[str] = Field(description="ios, android, web, e-reader")
    required_library_systems: list[str] = Field(
        description="koha, aurora, sierra, quria, origo, other"
    )
    proposed_on: dt.date | None = None


class InterestRegistered(Event):
    """A member registered non-binding interest in a need."""

    name = "interest-registered"
    producer = "procurement"
    key_field = "need_id"

    need_id: str
    isil: str
    indicative_budget_cents: int | None = Field(None, ge=0)


class PopulationBand(Payload):
    up_to: int | None = Field(ge=0, description="Largest population in the band; null: the top")
    points: int = Field(ge=0, description="The band's weight when the cost is divided")


class CostShare(Payload):
    """How an agreement's participants pay: the model and the parameters it takes."""

    model: CostModel
    base_fee_cents: int = Field(0, ge=0, description="base-plus-per-capita: per participant")
    rate_per_resident_cents: str | None = Field(
        None,
        pattern=r"^[0-9]+(\.[0-9]{1,2})?$",
        description="per-resident: cents per resident a year, a decimal in text (35 = 0.35 €)",
    )
    bands: list[PopulationBand] | None = Field(
        None, description="population-bands: ascending, the last open"
    )


#: What ``cost_share_model`` says for a model added after it was published: the shares of
#: per-resident are proportional to residents, as per-capita's are; population-bands also
#: charges a larger population no less. Readers that know ``cost_share`` read it instead.
LEGACY_COST_SHARE_MODEL: dict[str, CostShareModel] = {
    "per-capita": "per-capita",
    "base-plus-per-capita": "base-plus-per-capita",
    "equal": "equal",
    "per-resident": "per-capita",
    "population-bands": "per-capita",
    # No v1 form divides by use. v1 of a usage agreement says "equal" (what every share tends
    # to with equal use) and leaves ``cost_share`` out; v2, published beside it, names usage.
    "usage": "equal",
}


class CostShareV2(Payload):
    """How an agreement's participants pay, in v2 of the events that carry it."""

    model: CostModelV2 = Field(
        description="usage: the period's cost divided by each participant's share of the "
        "agreement's use in the period, from usage-reported (the latest revision of each "
        "library's month and report)"
    )
    base_fee_cents: int = Field(0, ge=0, description="base-plus-per-capita: per participant")
    rate_per_resident_cents: str | None = Field(
        None,
        pattern=r"^[0-9]+(\.[0-9]{1,2})?$",
        description="per-resident: cents per resident a year, a decimal in text (35 = 0.35 €)",
    )
    bands: list[PopulationBand] | None = Field(
        None, description="population-bands: ascending, the last open"
    )


class TenderLot(Payload):
    """A lot of a tender divided into lots: awarded on its own, on its own criteria."""

    lot_id: str
    title: str
    need_ids: list[str]
    criteria: dict[str, int] = Field(description="price, quality, compatibility weights")
    price_model: LicenceModel = Field(description="The model every bid for the lot must price")


class TenderOpened(Event):
    """A tender opened for bids; interested libraries are invited to comment."""

    name = "tender-opened"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    title: str
    kl_reference: str = Field(
        description="The purchasing body's reference (named for KL-Kuntahankinnat, the first)"
    )
    deadline: dt.datetime
    need_ids: list[str]
    material_types: list[MaterialType]
    interested_libraries: list[str] = Field(description="ISILs with interest in the needs")
    criteria: dict[str, int] = Field(description="price, quality, compatibility weights")
    price_model: LicenceModel | None = Field(None, description="The model every bid must price")
    procedure: Procedure | None = None
    estimated_value_cents: int | None = Field(
        None, ge=0, description="Extension options included, VAT excluded"
    )
    threshold_class: ThresholdClass | None = Field(
        None, description="From the dated threshold table in force when estimated"
    )
    purchasing_body: PurchasingBody | None = None
    tie_break: str | None = Field(None, description="The published rule for equal totals")
    documents: list[TenderDocument] | None = Field(
        None, description="The latest version of each procurement document, published"
    )
    lots: list[TenderLot] | None = Field(
        None,
        description="The lots a bid may answer, each decided on its own; an undivided tender "
        "is one lot '1' of its own needs, criteria and price model. Absent in events of older "
        "producers, which never divided a tender.",
    )
    decision_id: str | None = Field(
        None,
        description="The recorded decision (decision-recorded) that approved publishing the "
        "tender, when one was named (since 1.10)",
    )


class TenderAwarded(Event):
    """A tender was awarded to a bid."""

    name = "tender-awarded"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    bid_id: str
    supplier: Supplier
    product: str
    total_score: float
    overridden: bool = Field(description="The top-scoring bid was not chosen")
    justification: str | None = None
    title: str | None = None
    recommended_bid_id: str | None = Field(None, description="The top-ranked bid")
    price_model: LicenceModel | None = None
    price_cents: int | None = Field(None, ge=0, description="The awarded bid's price")
    bids: int | None = Field(None, ge=1, description="How many bids were evaluated")


class LotDecision(Payload):
    lot_id: str
    bid_id: str
    supplier: Supplier
    product: str
    price_model: LicenceModel
    price_cents: int = Field(ge=0)
    total_score: float
    bids_scored: int = Field(ge=1, description="Conforming bids ranked in this lot")


class RejectedBid(Payload):
    bid_id: str
    supplier: Supplier
    kind: Literal["rejected", "excluded"]
    ground: str


class DiscontinuedLot(Payload):
    lot_id: str
    ground: str = Field(description="Why: no bids were received, or none conforms")


class TenderAwardedV2(Event):
    """The procurement decision was made and served to every bidder.

    The best-scoring conforming bid of each lot was chosen on the published criteria; bids
    that failed a minimum requirement or were excluded are listed with their grounds. The
    agreement may be signed from ``standstill_ends_on`` (absent: no standstill applies)."""

    name = "tender-awarded"
    version = 2
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    title: str
    procedure: Procedure
    threshold_class: ThresholdClass
    lots: list[LotDecision] = Field(min_length=1)
    rejected: list[RejectedBid]
    decided_at: dt.datetime
    served_at: dt.datetime = Field(description="When the decision was served to the bidders")
    standstill_ends_on: dt.date | None = Field(
        description="First day the agreement may be signed; null when no standstill applies"
    )
    bids: int = Field(ge=1, description="Bids received")
    decision_id: str | None = Field(
        None,
        description="The recorded decision (decision-recorded) that approved the procurement "
        "decision, when one was named (since 1.10)",
    )
    discontinued_lots: list[DiscontinuedLot] | None = Field(
        None,
        description="Lots of a divided tender discontinued in the same decision for want of a "
        "conforming bid, with the ground; absent or empty: none (since 1.13)",
    )


class DecisionCorrected(Event):
    """The procurement decision was corrected (hankintaoikaisu, Act 1397/2016 sections
    132-135) and the corrected decision served to every bidder.

    A fact of its own rather than ``tender-awarded`` again: a reader of ``tender-awarded``
    would take a second one for a second procurement (a second announcement, a second
    collection), while a reader that follows the decision in force wants to know that this
    one *replaces* the earlier one, and why. It carries the whole corrected decision (as
    ``tender-awarded`` v2 does), so no consumer has to ask: the decision of ``revision``
    replaces every earlier revision; the agreement may be signed on it from
    ``standstill_ends_on`` and never on an earlier revision."""

    name = "decision-corrected"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    title: str
    revision: int = Field(ge=2, description="2 for the first correction, +1 for each further")
    replaces_revision: int = Field(ge=1, description="The revision this decision replaces")
    reason: str = Field(description="Why the decision was corrected")
    procedure: Procedure
    threshold_class: ThresholdClass
    lots: list[LotDecision] = Field(min_length=1)
    discontinued_lots: list[DiscontinuedLot]
    rejected: list[RejectedBid]
    corrected_at: dt.datetime
    served_at: dt.datetime = Field(description="When the corrected decision was served")
    standstill_ends_on: dt.date | None = Field(
        description="First day the agreement may be signed; null when no standstill applies"
    )
    bids: int = Field(ge=1, description="Bids received")
    changed_lots: list[str] = Field(
        description="Lots whose chosen bid differs from the replaced decision's, or that were "
        "awarded or discontinued only in one of the two"
    )
    decision_id: str | None = Field(
        None, description="The recorded decision (decision-recorded) that approved the correction"
    )


class AppealLodged(Event):
    """A bidder appealed the procurement decision to the Market Court."""

    name = "appeal-lodged"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    case_number: str = Field(description="The Market Court's case number")
    lodged_on: dt.date
    suspends: bool = Field(description="The decision may not be carried out meanwhile")
    title: str | None = None


class AppealResolved(Event):
    """The Market Court resolved an appeal, or it was withdrawn."""

    name = "appeal-resolved"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    case_number: str
    outcome: Literal["dismissed", "upheld", "withdrawn"]
    resolved_on: dt.date
    title: str | None = None


class QuestionAnswered(Event):
    """A supplier's question about an open tender was answered; the question and answer
    are published to every bidder, without naming who asked."""

    name = "question-answered"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    question_id: str
    question: str
    answer: str
    answered_at: dt.datetime
    title: str | None = None


class StandstillEnded(Event):
    """The standstill after a procurement decision has ended: the agreement may be signed,
    unless an appeal suspends the decision."""

    name = "standstill-ended"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    ended_on: dt.date = Field(description="First day the agreement may be signed")
    bid_id: str
    suspending_appeals: int = Field(ge=0, description="Pending appeals that block signing")
    title: str | None = None


class TenderCancelled(Event):
    """A tender was cancelled before an award."""

    name = "tender-cancelled"
    producer = "procurement"
    key_field = "tender_id"

    tender_id: str
    reason: str
    title: str | None = None


class AgreementSigned(Event):
    """A framework agreement was signed from an awarded bid; members may now opt in."""

    name = "agreement-signed"
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    tender_id: str
    title: str
    supplier: Supplier
    product: str
    material_types: list[MaterialType]
    licence_terms: dict[str, TermValue]
    periods: list[AgreementPeriod]
    extension_options: int = Field(ge=0, description="Renewals still possible")
    annual_cost_cents: int = Field(ge=0)
    cost_share_model: CostShareModel = Field(
        description="The model, or for one added later (population-bands, per-resident) its "
        "nearest older form (per-capita); cost_share names the model itself. For usage, "
        "which only v2 can name, 'equal' with cost_share absent: read v2"
    )
    signed_on: dt.date
    extension_months: int | None = Field(None, ge=1, description="Length of each renewal")
    base_fee_cents: int = Field(0, ge=0, description="Per participant, base-plus-per-capita")
    price_model: LicenceModel | None = None
    bid_id: str | None = None
    kl_reference: str | None = None
    lot_id: str | None = Field(
        None, description="The tender's lot the agreement was signed for ('1': not divided)"
    )
    cost_share: CostShare | None = Field(
        None, description="The cost model with its parameters (absent from older producers)"
    )

    def broken_rule(self) -> str | None:
        if not self.periods:
            return "periods is empty: an agreement is signed for at least one period"
        for n, period in enumerate(self.periods):
            if period.end < period.start:
                return (
                    f"periods[{n}]: end {period.end} is before start {period.start}: "
                    "an agreement period cannot end before it begins"
                )
        return None


class AgreementSignedV2(Event):
    """A framework agreement was signed from an awarded bid; members may now opt in.

    Version 2 carries every cost model procurement offers, ``usage`` included, in
    ``cost_share`` (required), and drops v1's ``cost_share_model`` and ``base_fee_cents``,
    which ``cost_share`` says. Version 1 is still published beside it for its readers."""

    name = "agreement-signed"
    version = 2
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    tender_id: str
    lot_id: str = Field(description="The tender's lot the agreement was signed for ('1': whole)")
    title: str
    supplier: Supplier
    product: str
    material_types: list[MaterialType]
    licence_terms: dict[str, TermValue]
    periods: list[AgreementPeriod]
    extension_options: int = Field(ge=0, description="Renewals still possible")
    extension_months: int = Field(ge=1, description="Length of each renewal")
    annual_cost_cents: int = Field(ge=0)
    cost_share: CostShareV2
    signed_on: dt.date
    price_model: LicenceModel
    bid_id: str
    kl_reference: str

    def broken_rule(self) -> str | None:
        if not self.periods:
            return "periods is empty: an agreement is signed for at least one period"
        for n, period in enumerate(self.periods):
            if period.end < period.start:
                return (
                    f"periods[{n}]: end {period.end} is before start {period.start}: "
                    "an agreement period cannot end before it begins"
                )
        return None


class AgreementEnded(Event):
    """An agreement expired or was terminated; its participations end with it."""

    name = "agreement-ended"
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    kind: Literal["expired", "terminated"]
    effective_on: dt.date = Field(description="First day no longer in force")
    reason: str = ""
    title: str | None = None


class AgreementJoined(Event):
    """A member library opted in to an agreement.

    Published when the library opts in; ``joined_on``, its first day, may lie ahead."""

    name = "agreement-joined"
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    isil: str
    joined_on: dt.date
    title: str
    supplier: Supplier
    product: str
    participants: int = Field(ge=1, description="Participants on joined_on, this one included")
    material_types: list[MaterialType] = Field(default_factory=list)


class AgreementLeft(Event):
    """A library's participation in an agreement ended.

    An opt-out given with notice is published on its ``left_on``. A library forced out, by
    leaving the consortium (``membership-ended``) or by the agreement's end
    (``agreement-ended``), is published at once."""

    name = "agreement-left"
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    isil: str
    left_on: dt.date = Field(description="First day no longer participating")
    reason: Literal["opt-out", "membership-ended", "agreement-ended"]
    participants: int = Field(ge=0, description="Participants on left_on, after this one left")
    title: str | None = None


class InvoiceLine(Payload):
    payer_id: str = Field(description="The paying organisation's business ID, else the ISIL")
    payer_name: str
    business_id: str | None = None
    e_invoice_address: str | None = Field(None, description="OVT code of the payer")
    isil: str
    description: str
    days: int = Field(ge=1, description="Days the library took part in the period")
    amount_cents: int = Field(ge=0)


class InvoiceLinesIssued(Event):
    """A billing period of an agreement was closed: its cost, pro-rated by the days each
    library took part, is invoiced to the paying organisations. The lines sum to the cost."""

    name = "invoice-lines-issued"
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    title: str
    period_start: dt.date
    period_end: dt.date = Field(description="Last day billed")
    cost_cents: int = Field(ge=0)
    cost_share_model: CostShareModel = Field(
        description="The model, or for one added later (population-bands, per-resident) its "
        "nearest older form (per-capita); cost_share names the model itself. For usage, "
        "which only v2 can name, 'equal' with cost_share absent: read v2"
    )
    lines: list[InvoiceLine]
    cost_share: CostShare | None = Field(
        None, description="The cost model with its parameters (absent from older producers)"
    )


class InvoiceLinesIssuedV2(Event):
    """A billing period of an agreement was closed and its cost invoiced to the paying
    organisations; the lines sum to the cost.

    Version 2 names every cost model in ``cost_share`` (required), ``usage`` included; under
    usage the lines divide the cost by each library's use in ``usage_months``. Version 1 is
    still published beside it for its readers."""

    name = "invoice-lines-issued"
    version = 2
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    title: str
    period_start: dt.date
    period_end: dt.date = Field(description="Last day billed")
    cost_cents: int = Field(ge=0)
    cost_share: CostShareV2
    usage_months: list[str] | None = Field(
        None, description="usage: the months (YYYY-MM) whose use divided the cost"
    )
    lines: list[InvoiceLine]


class CancellationDeadlineApproaching(Event):
    """An agreement's cancellation deadline is 60, 30 or 7 days away: the last day to give
    notice so that the agreement ends with its period rather than renewing."""

    name = "cancellation-deadline-approaching"
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    title: str
    supplier: Supplier
    product: str
    cancellation_deadline: dt.date
    days_before: Literal[60, 30, 7]
    period_end: dt.date = Field(description="Last day of the period the deadline closes")
    renewals_left: int = Field(ge=0)
    annual_cost_cents: int = Field(ge=0)
    participants: list[str] = Field(description="ISILs taking part today")


TitleLicenceModel = Literal[
    "one-copy-one-user",
    "one-copy-one-user-time-limited",
    "loan-limited",
    "metered-per-loan",
    "simultaneous-use",
    "subscription",
]


class TitleEntitlement(Payload):
    isbn: str = Field(description="ISBN-13, digits only")
    licence_model: TitleLicenceModel
    copies: int | Literal["unlimited"]
    loans_left: int | None = Field(None, ge=0)
    expires_on: dt.date | None = Field(None, description="First day no longer held")
    acquired_on: dt.date
    order_reference: str = ""
    survives_leaving: bool = Field(description="Perpetual or post-cancellation access")


class EntitlementsChanged(Event):
    """Titles a library or kimppa holds under an agreement were added (a bulk load) or
    expired. The catalogue builds the holder's record set from these."""

    name = "entitlements-changed"
    producer = "procurement"
    key_field = "agreement_id"

    agreement_id: str
    holder: str = Field(description="A library's ISIL, or a kimppa's id prefixed 'kimppa:'")
    change: Literal["added", "expired"]
    titles: list[TitleEntitlement] = Field(min_length=1)


# --- governance: decisions and member surveys ---------------------------------------------


class DecisionAttachment(Payload):
    name: str
    sha256: str = Field(description="Hex SHA-256 of the stored file: its address")
    size: int = Field(ge=0)
    media_type: str


class DecisionRecorded(Event):
    """The steering group or the coordinator recorded a decision (minutes section).

    Tenders, procurement decisions and agreement renewals name the decision that approved
    them, so its ``subject`` says what it approved."""

    name = "decision-recorded"
    producer = "procurement"
    key_field = "decision_id"

    decision_id: str
    body: Literal["steering-group", "coordinator"]
    decided_on: dt.date
    section: str = Field(description="Section number in the minutes, e.g. '12 §'")
    subject_kind: Literal["need", "tender", "agreement", "membership-version", "other"]
    subject_id: str
    text: str
    attachments: list[DecisionAttachment] = Field(default_factory=list)


class LocalizedText(Payload):
    fi: str
    sv: str


class SurveyOpened(Event):
    """A member survey opened: the libraries in ``audience`` are invited to answer by
    ``closes_on`` (the last day answers are taken)."""

    name = "survey-opened"
    producer = "procurement"
    key_field = "survey_id"

    survey_id: str
    kind: Literal["renewal", "new-need", "opt-in"]
    title: LocalizedText
    opens_on: dt.date
    closes_on: dt.date = Field(description="Last day answers are taken")
    agreement_id: str | None = None
    decision_id: str | None = None
    audience: list[str] = Field(description="ISILs of the libraries asked")


class SurveyReminderDue(Event):
    """A survey closes soon: the libraries in ``not_answered`` have not answered yet.
    Published once per survey, a few days before ``closes_on``."""

    name = "survey-reminder-due"
    producer = "procurement"
    key_field = "survey_id"

    survey_id: str
    title: LocalizedText
    closes_on: dt.date
    not_answered: list[str] = Field(description="ISILs")


class SurveyOptionCount(Payload):
    option_id: str
    label: LocalizedText
    count: int = Field(ge=0, description="Libraries that chose this option")


class SurveyQuestionResult(Payload):
    """One question's answer counts: never who answered what, and never free text (which
    stays behind procurement's access check)."""

    question_id: str
    kind: Literal["single", "multiple", "number", "text"]
    text: LocalizedText
    answered: int = Field(ge=0, description="Libraries that answered this question")
    options: list[SurveyOptionCount] = Field(
        default_factory=list, description="A choice question's options, in the survey's order"
    )
    mean: float | None = Field(None, description="A number question's mean answer")


class SurveyClosed(Event):
    """A member survey closed. Binding opt-ins were turned into participations (each with its
    own ``agreement-joined``); those that could not be are listed with the reason."""

    name = "survey-closed"
    producer = "procurement"
    key_field = "survey_id"

    survey_id: str
    kind: Literal["renewal", "new-need", "opt-in"]
    closes_on: dt.date
    audience_size: int = Field(ge=0)
    answered: int = Field(ge=0)
    agreement_id: str | None = None
    opted_in: list[str] = Field(default_factory=list, description="ISILs now participating")
    not_applied: dict[str, str] = Field(
        default_factory=dict, description="ISIL → why its binding answer was not applied"
    )
    results: list[SurveyQuestionResult] | None = Field(
        None,
        description="Answer counts per question, in the survey's order (since 1.11; absent "
        "in events of older producers)",
    )


class AnnualReportPublished(Event):
    """A library's annual report for ``year`` is ready. It carries the report's address, not
    the report: the cost figures stay behind the API's access check, and outreach mails each
    library's contacts a link in their language."""

    name = "annual-report-published"
    producer = "procurement"
    key_field = "isil"

    isil: str
    year: int = Field(ge=2000, le=2100)
    url: str = Field(description="Path of the report on procurement's API, e.g. /reports/...")
    pdf_url: str


EVENTS: tuple[type[Event], ...] = (
    NeedProposed,
    InterestRegistered,
    TenderOpened,
    TenderAwarded,
    TenderAwardedV2,
    DecisionCorrected,
    AppealLodged,
    AppealResolved,
    QuestionAnswered,
    StandstillEnded,
    TenderCancelled,
    AgreementSigned,
    AgreementSignedV2,
    AgreementEnded,
    AgreementJoined,
    AgreementLeft,
    InvoiceLinesIssued,
    InvoiceLinesIssuedV2,
    CancellationDeadlineApproaching,
    EntitlementsChanged,
    DecisionRecorded,
    SurveyOpened,
    SurveyReminderDue,
    SurveyClosed,
    AnnualReportPublished,
)
