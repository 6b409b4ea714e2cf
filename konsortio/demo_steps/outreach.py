"""Demo steps for outreach: marketing kits uploaded first, then every reaction seen where a
library would see it, in the SMTP sink (``GET /dev/mailbox``): the welcome with the
onboarding kit, the invitation to comment on the tender, the agreement announcement, the
e-service's kit to each library that opted in, and the new e-materials notice once catalogue
has loaded the supplier's title list; finally the draft campaign the agreement
created is previewed and sent in the background, and the public Atom feed carries the news.

Kits must exist before libraries opt in, so they are uploaded in the "setup" phase, before
procurement has awarded anything. They are keyed by product name: one kit for each product
that the procurement demo's bidders offer (whichever wins, its kit is there). The procurement
demo leaves ``agreement_id``, ``product`` and ``participants`` in ``ctx.facts``.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from kit.auth import Role
from konsortio.demo import DemoContext, Scenario

DEFAULT_PRODUCT = "Ellibs E-kirjasto"


def _candidate_products() -> list[str]:
    try:
        from konsortio.demo_steps.procurement import BIDS
    except ImportError:
        return [DEFAULT_PRODUCT]
    return [str(bid["product"]) for bid in BIDS]


def pdf(text: str) -> bytes:
    """A one-page PDF with one line of text (ASCII), with a correct cross-reference table."""
    stream = f"BT /F1 28 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain one-colour PNG (kits take PNG or PDF logos; SVG is refused)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


LOGO = png(120, 40, (0x00, 0x55, 0x8C))


def _kit_files(product: str) -> list[tuple[str, bytes, str, str]]:
    """(file name, content, language, category) of one e-service's kit."""
    return [
        ("juliste-a4.pdf", pdf(f"{product}: lainaa kirjastosta"), "fi", "poster"),
        ("affisch-a4.pdf", pdf(f"{product}: lana fran biblioteket"), "sv", "poster"),
        (
            "somepostaus.txt",
            f"Nyt kirjastossa: {product}! Lainaa kirjastokortilla. #kirjasto\n".encode(),
            "fi",
            "social",
        ),
        (
            "inlagg.txt",
            f"Nu på biblioteket: {product}! Låna med bibliotekskortet. #bibliotek\n".encode(),
            "sv",
            "social",
        ),
        ("logo.png", LOGO, "any", "logo"),
    ]


ONBOARDING_FILES = [
    (
        "aloitusopas.md",
        "# Tervetuloa konsortioon\n\n1. Nimetkää yhteyshenkilöt.\n2. Tutustukaa "
        "puitesopimuksiin.\n".encode(),
        "fi",
        "guide",
    ),
    (
        "startguide.md",
        "# Välkommen till konsortiet\n\n1. Utse kontaktpersoner.\n2. Bekanta er med "
        "ramavtalen.\n".encode(),
        "sv",
        "guide",
    ),
    ("konsortio-logo.png", LOGO, "any", "logo"),
]


async def _upload_kit(
    s: Scenario, ctx: DemoContext, body: dict[str, Any], files: list[tuple[str, bytes, str, str]]
) -> dict[str, Any]:
    outreach = ctx.urls["outreach"]
    kit = (await s.call("POST", f"{outreach}/kits", ctx.token(), json=body)).json()
    for name, content, language, category in files:
        await s.call(
            "POST",
            f"{outreach}/kits/{kit['id']}/files",
            ctx.token(),
            files={"file": (name, content)},
            data={"language": language, "category": category},
        )
    return kit


async def _existing_kit(s: Scenario, ctx: DemoContext, **query: Any) -> dict[str, Any] | None:
    body = (await s.call("GET", f"{ctx.urls['outreach']}/kits", ctx.token(), params=query)).json()
    return next((kit for kit in body["items"] if kit["files"]), None)


async def upload_kits(s: Scenario, ctx: DemoContext) -> None:
    """Setup: the onboarding kit and a marketing kit per candidate e-service, unless an
    earlier run on the same data directory uploaded them already."""
    onboarding = await _existing_kit(s, ctx, onboarding="true") or await _upload_kit(
        s, ctx, {"title": "Aloituspaketti / Startpaket", "onboarding": True}, ONBOARDING_FILES
    )
    ctx.facts["onboarding_kit"] = onboarding["id"]
    products = _candidate_products()
    ctx.facts.setdefault("product", products[0])
    kits = {}
    for product in products:
        kit = await _existing_kit(s, ctx, product=product) or await _upload_kit(
            s,
            ctx,
            {"title": f"{product}: markkinointipaketti / marknadsföringspaket", "product": product},
            _kit_files(product),
        )
        kits[product] = kit["id"]
    ctx.facts["kits"] = kits
    outreach = ctx.urls["outreach"]

    async def listed() -> Any:
        body = (
            await s.call("GET", f"{outreach}/kits/{onboarding['id']}", ctx.token(Role.CATALOGUER))
        ).json()
        return len(body["files"]) == len(ONBOARDING_FILES) and {
            "kits": 1 + len(kits),
            "checksums": [f["sha256"][:12] for f in body["files"]],
        }

    await s.expect(
        f"marketing kits stored with checksums: onboarding + {len(kits)} e-services", listed
    )


def _contacts(ctx: DemoContext, isils: list[str] | None = None) -> dict[str, str]:
    """Contact address → ISIL of the demo libraries (or some of them)."""
    return {
        contact["email"]: library["isil"]
        for library in ctx.libraries
        if isils is None or library["isil"] in isils
        for contact in library["contacts"]
    }


async def _mails(s: Scenario, ctx: DemoContext, kind: str, addresses: set[str]) -> list[dict]:
    mails = (await s.call("GET", f"{ctx.urls['outreach']}/dev/mailbox", ctx.token())).json()
    return [
        m
        for m in mails
        if m["headers"].get("X-Konsortio-Kind") == kind and set(m["rcpt_to"]) & addresses
    ]


async def welcome_with_onboarding_kit(s: Scenario, ctx: DemoContext) -> None:
    contacts = set(_contacts(ctx))

    async def arrived() -> Any:
        mails = await _mails(s, ctx, "welcome", contacts)
        with_kit = [
            m for m in mails if "aloitusopas.md" in m["text"] or "startguide.md" in m["text"]
        ]
        return len(with_kit) >= len(contacts) and {
            "welcomes": len(with_kit),
            "subjects": sorted({m["subject"] for m in with_kit})[:2],
        }

    await s.expect("welcome messages carry the onboarding kit (member-joined)", arrived)


async def tender_invitation(s: Scenario, ctx: DemoContext) -> None:
    if "tender_id" not in ctx.facts:
        s.say("[yellow]no tender in this run: the invitation check is skipped[/yellow]")
        return
    contacts = set(_contacts(ctx))

    async def arrived() -> Any:
        mails = await _mails(s, ctx, "invitation", contacts)
        return len(mails) >= len(contacts) and {"invitations": len(mails)}

    await s.expect(
        "interested libraries were invited to comment on the tender (tender-opened)", arrived
    )


async def agreement_announcement(s: Scenario, ctx: DemoContext) -> None:
    if "agreement_id" not in ctx.facts:
        s.say("[yellow]no agreement in this run: the announcement check is skipped[/yellow]")
        return
    contacts = set(_contacts(ctx))
    product = ctx.facts["product"]

    async def arrived() -> Any:
        mails = [
            m for m in await _mails(s, ctx, "announcement", contacts) if product in m["subject"]
        ]
        languages = sorted({m["headers"].get("Content-Language", "") for m in mails})
        return len(mails) >= len(contacts) and {"announcements": len(mails), "languages": languages}

    await s.expect(
        f"every member was told about the {product} agreement (agreement-signed)", arrived
    )


async def kit_to_participants(s: Scenario, ctx: DemoContext) -> None:
    if "participants" not in ctx.facts:
        s.say("[yellow]nobody opted in during this run: the kit check is skipped[/yellow]")
        return
    outreach = ctx.urls["outreach"]
    participants = list(ctx.facts["participants"])
    contacts = _contacts(ctx, participants)
    product = ctx.facts["product"]

    async def delivered() -> Any:
        body = (
            await s.call(
                "GET",
                f"{outreach}/deliveries",
                ctx.token(),
                params={"kind": "kit", "status": "sent", "limit": 500},
            )
        ).json()
        ours = [d for d in body["items"] if d["recipient"] in contacts]
        # Libraries that opted in to another of the run's agreements get its kit as well.
        mails = [m for m in await _mails(s, ctx, "kit", set(contacts)) if product in m["subject"]]
        attached = sorted({a["filename"] for d in ours for a in d["attachments"]})
        return (
            len(ours) >= len(contacts)
            and len({r for m in mails for r in m["rcpt_to"]} & set(contacts)) == len(contacts)
            and {"libraries": len({d["isil"] for d in ours}), "attached": attached}
        )

    await s.expect(
        f"the {product} marketing kit reached each library that opted in (agreement-joined)",
        delivered,
    )


async def new_materials_notice(s: Scenario, ctx: DemoContext) -> None:
    if "catalogue_batch_id" not in ctx.facts or not ctx.facts.get("participants"):
        s.say("[yellow]no title list loaded in this run: the notice check is skipped[/yellow]")
        return
    contacts = set(_contacts(ctx, list(ctx.facts["participants"])))

    async def arrived() -> Any:
        mails = await _mails(s, ctx, "notice", contacts)
        return len({a for m in mails for a in m["rcpt_to"]} & contacts) == len(contacts) and {
            "notices": len(mails),
            "subject": mails[0]["subject"],
        }

    await s.expect(
        "each participating library was told of its new e-materials (records-available)", arrived
    )


async def campaign_and_feed(s: Scenario, ctx: DemoContext) -> None:
    """Checks: the draft campaign made from the agreement is previewed and sent; the public
    Atom feed (no token) has the announcement in Finnish and Swedish."""
    if "agreement_id" not in ctx.facts:
        return
    outreach = ctx.urls["outreach"]
    coordinator = ctx.token()
    product = ctx.facts["product"]
    found: dict[str, Any] = {}

    async def drafted() -> Any:
        body = (
            await s.call(
                "GET",
                f"{outreach}/campaigns",
                coordinator,
                params={"status": "draft", "limit": 500},
            )
        ).json()
        draft = next(
            (c for c in body["items"] if c["agreement_id"] == ctx.facts["agreement_id"]), None
        )
        if draft:
            found.update(draft)
        return draft and {"campaign": draft["id"], "subject": draft["subject"]["fi"]}

    if not await s.expect("a draft campaign for the new e-service (agreement-signed)", drafted):
        return
    campaign = f"{outreach}/campaigns/{found['id']}"
    preview = (await s.call("POST", f"{campaign}/preview", coordinator)).json()
    s.say(f"preview fi: {preview['fi']['subject']!r}; sv: {preview['sv']['subject']!r}")
    await s.call("POST", f"{campaign}/send", coordinator)

    async def sent() -> Any:
        progress = (await s.call("GET", f"{campaign}/progress", coordinator)).json()
        return progress["status"] == "sent" and {
            "recipients": progress["recipients"],
            "sent": progress["sent"],
            "failed": progress["failed"],
        }

    await s.expect("the campaign was sent in the background (campaign-sent)", sent)

    async def in_feed() -> Any:
        response = await s.client.get(f"{outreach}/feed.atom")  # public: no token
        text = response.text
        return (
            response.status_code == 200
            and text.count(product) >= 2
            and 'xml:lang="sv"' in text
            and {"bytes": len(text), "entries": text.count("<entry")}
        )

    await s.expect("the public Atom feed announces the agreement in fi and sv", in_feed)


STEPS = [
    ("setup", upload_kits),
    ("outreach", welcome_with_onboarding_kit),
    ("outreach", tender_invitation),
    ("outreach", agreement_announcement),
    ("outreach", kit_to_participants),
    ("outreach", new_materials_notice),
    ("checks", campaign_and_feed),
]
