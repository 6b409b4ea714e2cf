"""The annual report as PDF: fpdf2's core fonts and drawing primitives, so nothing outside
the Python environment is needed. Imported only when a PDF is asked for (see
``report.render_pdf``)."""

from __future__ import annotations

import datetime as dt

from fpdf import FPDF

from services.procurement.governance.report import (
    LABELS,
    Language,
    LibraryReport,
    day_text,
    euros,
)


def _latin1(text: str) -> str:
    # fpdf2's core fonts are Latin-1: Finnish and Swedish letters fit; a few others are mapped.
    text = text.replace("–", "-").replace("—", "-").replace("€", "EUR").replace("§", "§")
    return text.encode("latin-1", "replace").decode("latin-1")


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.set_auto_page_break(True, margin=15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 8, _latin1(f"{self.footer_text} - {self.page_no()}"), align="C")


def _table(pdf: FPDF, header: list[str], rows: list[list[str]], widths: list[int]) -> None:
    pdf.set_font("Helvetica", "B", 9)
    for text, width in zip(header, widths, strict=True):
        pdf.cell(width, 7, _latin1(text), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for row in rows:
        for text, width in zip(row, widths, strict=True):
            pdf.cell(width, 6, _latin1(text)[:60], border=1)
        pdf.ln()


def _bar_chart(pdf: FPDF, title: str, bars: list[tuple[str, int]]) -> None:
    """Horizontal bars drawn with fpdf2 primitives: one per agreement, labelled in euros."""
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 8, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    top = max((value for _, value in bars), default=0) or 1
    pdf.set_font("Helvetica", size=8)
    for label, value in bars:
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(60, 6, _latin1(label)[:38])
        width = 90 * value / top
        pdf.set_fill_color(46, 110, 170)
        pdf.rect(pdf.l_margin + 62, y + 1, max(width, 0.5), 4, style="F")
        pdf.set_xy(pdf.l_margin + 62 + width + 2, y)
        pdf.cell(30, 6, _latin1(euros(value)))
        pdf.ln(7)
    pdf.ln(3)


def _library_pages(pdf: _Pdf, r: LibraryReport, lang: Language) -> None:
    t = LABELS[lang]
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"{t['title']} {r.year}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 8, _latin1(f"{r.name_in(lang)} ({r.isil})"), new_x="LMARGIN", new_y="NEXT")
    if r.libraries:
        pdf.set_font("Helvetica", size=10)
        text = f"{t['organisation_libraries']}: {', '.join(r.libraries)}"
        pdf.multi_cell(0, 6, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin1(t["agreements"]), new_x="LMARGIN", new_y="NEXT")
    if r.agreements:
        rows = [
            [
                a.title,
                f"{day_text(a.start)}-{day_text(a.end)}",
                str(a.days),
                euros(a.annual_share_cents),
                euros(a.cost_cents),
            ]
            for a in r.agreements
        ]
        rows.append([t["total"], "", "", "", euros(r.total_cost_cents)])
        header = [t["agreement"], t["period"], t["days"], t["annual_share"], t["cost"]]
        _table(pdf, header, rows, [58, 42, 14, 38, 38])
        pdf.ln(4)
        _bar_chart(pdf, t["chart"], [(a.title, a.cost_cents) for a in r.agreements])
    else:
        pdf.set_font("Helvetica", size=10)
        pdf.cell(0, 7, _latin1(t["none"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin1(t["records"]), new_x="LMARGIN", new_y="NEXT")
    if r.records:
        rows = [[c, str(n["available"]), str(n["withdrawn"])] for c, n in r.records.items()]
        _table(pdf, [t["collection"], t["available"], t["withdrawn"]], rows, [110, 40, 40])
    else:
        pdf.set_font("Helvetica", size=10)
        pdf.cell(0, 7, _latin1(t["none"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin1(t["messages"]), new_x="LMARGIN", new_y="NEXT")
    if r.messages:
        _table(
            pdf, [t["kind"], t["count"]], [[k, str(n)] for k, n in r.messages.items()], [110, 40]
        )
    else:
        pdf.set_font("Helvetica", size=10)
        pdf.cell(0, 7, _latin1(t["none"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin1(t["usage"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 7, _latin1(t["no_usage"]), new_x="LMARGIN", new_y="NEXT")


def render(reports: list[LibraryReport], year: int, lang: Language, summary: bool) -> bytes:
    t = LABELS[lang]
    pdf = _Pdf(f"{t['title']} {year}")
    pdf.set_title(_latin1(f"{t['title']} {year}"))
    pdf.set_creation_date(dt.datetime(year, 12, 31, tzinfo=dt.UTC))
    if summary:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, _latin1(f"{t['summary_title']} {year}"), new_x="LMARGIN", new_y="NEXT")
        rows = [
            [r.name_in(lang), r.isil, str(len(r.agreements)), euros(r.total_cost_cents)]
            for r in reports
        ]
        rows.append([t["total"], "", "", euros(sum(r.total_cost_cents for r in reports))])
        header = [t["libraries"], "ISIL", t["participations"], t["cost"]]
        _table(pdf, header, rows, [80, 30, 35, 45])
        pdf.ln(4)
        _bar_chart(pdf, t["chart"], [(r.name_in(lang), r.total_cost_cents) for r in reports][:20])
    for r in reports:
        _library_pages(pdf, r, lang)
    return bytes(pdf.output())
