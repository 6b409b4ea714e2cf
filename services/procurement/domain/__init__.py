"""Procurement's pure domain: rules and calculations with no I/O.

Store, API and event handlers import from here. Every refusal is a
:class:`ProcurementRuleViolated` subclass naming the field and the problem.

Modules, by meaning:

- ``vocabulary``: material types, devices, library systems, licence models, ISIL check;
- ``licence_terms``: the typed term catalogue, validation and comparison;
- ``members``: procurement's copy of membership facts;
- ``needs``: needs and non-binding interest;
- ``tenders``: tenders, criteria and their state machine;
- ``bids``: suppliers, bids and bid acceptance;
- ``evaluation``: compatibility tests and quality scores;
- ``thresholds``: procedures and threshold classes from the dated table;
- ``scoring``: points and ranking against the fixed test matrix;
- ``awards``: minimum requirements, the procurement decision and its standstill;
- ``appeals``: appeals to the Market Court, which can block signing;
- ``agreements``: framework agreements, periods, renewal, termination, expiry;
- ``participation``: opt-in, opt-out and leaving with the consortium;
- ``cost_shares``: dividing the annual cost, and its CSV;
- ``entitlements``: title-level licences per library or kimppa, KBART in and out;
- ``reminders``: cancellation deadlines coming up, 60, 30 and 7 days ahead;
- ``billing``: billing periods, pro-rating by days, invoice lines and their safe CSV.
"""

from .agreements import (
    MAX_EXTENSION_MONTHS,
    MAX_EXTENSION_OPTIONS,
    Agreement,
    AgreementEnd,
    AgreementState,
    EndKind,
    ExtensionOptions,
    Period,
    add_months,
    compare_agreements,
    due_end,
    due_to_end,
    end_agreement,
    renew_agreement,
    sign_agreement,
    terminate_agreement,
)
from .appeals import (
    Appeal,
    AppealStatus,
    check_appeals_allow_signing,
    lodge_appeal,
    resolve_appeal,
)
from .awards import (
    WHOLE_TENDER_LOT,
    Award,
    Rejection,
    RejectionKind,
    award_tender,
    compatibility_matrix,
    minimum_requirement_rejections,
)
from .bids import Bid, Shortfall, Supplier, shortfall, submit_bid
from .billing import (
    INVOICE_CSV_HEADER,
    BillingPeriod,
    InvoiceLine,
    Payer,
    PeriodShare,
    days_in,
    invoice_lines,
    prorated_shares,
    render_invoice_csv,
    round_quotas,
)
from .cost_shares import (
    CSV_HEADER,
    CostShare,
    CostShareModel,
    CostSharePolicy,
    Participant,
    check_cost_model_fits,
    compute_cost_shares,
    format_euros,
    largest_remainder,
    neutralise,
    render_cost_shares_csv,
)
from .documents import Document, DocumentKind, add_version, latest
from .entitlements import (
    KBART_COLUMNS,
    UNLIMITED,
    Entitlement,
    TitleLicenceModel,
    due_to_expire,
    end_on_leaving,
    normalise_isbn,
    parse_kbart,
    render_kbart,
    survives_leaving,
)
from .errors import (
    DuplicateEntry,
    IllegalTransition,
    InvalidValue,
    NotPermitted,
    ProcurementRuleViolated,
)
from .evaluation import (
    QUALITY_SCALE,
    CompatibilityResult,
    QualityScore,
    Target,
    parse_target,
    record_compatibility_result,
    record_quality_score,
)
from .licence_terms import (
    TERM_CATALOGUE,
    DrmKind,
    LicenceTerm,
    LicenceTerms,
    PermittedStatus,
    TermComparisonRow,
    TermDefinition,
    TermName,
    TermType,
    compare_terms,
    parse_licence_terms,
)
from .members import Member
from .needs import Interest, Need, propose_need, register_interest
from .participation import (
    LeaveReason,
    Participation,
    agreement_cost_shares,
    end_participations,
    leave_on_membership_end,
    opt_in,
    opt_out,
    opt_out_dates,
    participants_on,
)
from .questions import Question, answer_question, ask_question
from .reminders import LEADS, Reminder, due_reminders
from .scoring import BidScore, score_bids, to_decimal
from .tenders import (
    TENDER_TRANSITIONS,
    TIE_BREAK_RULE,
    Criteria,
    PurchasingBody,
    Tender,
    TenderState,
    accepts_bids,
    cancel_tender,
    open_tender,
    revise_draft,
    start_evaluation,
)
from .thresholds import (
    Procedure,
    ThresholdClass,
    ThresholdRow,
    ThresholdTable,
    default_table,
    parse_table,
)
from .vocabulary import Device, LibrarySystem, LicenceModel, MaterialType, check_isil

__all__ = [
    "Document",
    "DocumentKind",
    "add_version",
    "latest",
    "Question",
    "answer_question",
    "ask_question",
    "KBART_COLUMNS",
    "UNLIMITED",
    "Entitlement",
    "TitleLicenceModel",
    "due_to_expire",
    "end_on_leaving",
    "normalise_isbn",
    "parse_kbart",
    "render_kbart",
    "survives_leaving",
    "LEADS",
    "Reminder",
    "due_reminders",
    "INVOICE_CSV_HEADER",
    "BillingPeriod",
    "InvoiceLine",
    "Payer",
    "PeriodShare",
    "check_cost_model_fits",
    "days_in",
    "invoice_lines",
    "neutralise",
    "prorated_shares",
    "render_invoice_csv",
    "round_quotas",
    "MAX_EXTENSION_MONTHS",
    "MAX_EXTENSION_OPTIONS",
    "Appeal",
    "AppealStatus",
    "check_appeals_allow_signing",
    "lodge_appeal",
    "resolve_appeal",
    "WHOLE_TENDER_LOT",
    "Rejection",
    "RejectionKind",
    "minimum_requirement_rejections",
    "compatibility_matrix",
    "TIE_BREAK_RULE",
    "PurchasingBody",
    "Procedure",
    "ThresholdClass",
    "ThresholdRow",
    "ThresholdTable",
    "default_table",
    "parse_table",
    "Agreement",
    "AgreementEnd",
    "AgreementState",
    "Award",
    "Bid",
    "BidScore",
    "CSV_HEADER",
    "CompatibilityResult",
    "CostShare",
    "CostShareModel",
    "CostSharePolicy",
    "Criteria",
    "Device",
    "DrmKind",
    "DuplicateEntry",
    "EndKind",
    "ExtensionOptions",
    "IllegalTransition",
    "Interest",
    "InvalidValue",
    "LeaveReason",
    "LibrarySystem",
    "LicenceModel",
    "LicenceTerm",
    "LicenceTerms",
    "MaterialType",
    "Member",
    "Need",
    "NotPermitted",
    "Participant",
    "Participation",
    "Period",
    "PermittedStatus",
    "ProcurementRuleViolated",
    "QUALITY_SCALE",
    "QualityScore",
    "Shortfall",
    "Supplier",
    "TENDER_TRANSITIONS",
    "TERM_CATALOGUE",
    "Target",
    "Tender",
    "TenderState",
    "TermComparisonRow",
    "TermDefinition",
    "TermName",
    "TermType",
    "accepts_bids",
    "add_months",
    "agreement_cost_shares",
    "award_tender",
    "cancel_tender",
    "check_isil",
    "compare_agreements",
    "compare_terms",
    "compute_cost_shares",
    "due_end",
    "due_to_end",
    "end_agreement",
    "end_participations",
    "format_euros",
    "largest_remainder",
    "leave_on_membership_end",
    "open_tender",
    "opt_in",
    "opt_out",
    "opt_out_dates",
    "parse_licence_terms",
    "parse_target",
    "participants_on",
    "propose_need",
    "record_compatibility_result",
    "record_quality_score",
    "register_interest",
    "render_cost_shares_csv",
    "renew_agreement",
    "revise_draft",
    "score_bids",
    "shortfall",
    "sign_agreement",
    "start_evaluation",
    "submit_bid",
    "terminate_agreement",
    "to_decimal",
]
