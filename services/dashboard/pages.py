"""The dashboard's HTML: the public page, its live-refreshed figures fragment, and the operator
view. Rendered on the server with Jinja2 (autoescaped); the only script is the small
``static/dashboard.js`` that listens to the event stream. Without it the page still works,
just without live updates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from contracts import ALL_EVENTS, PRODUCERS
from kit.app import pool_of, runtime_of
from kit.errors import ApiError
from services.dashboard import charts, governance, store, usage
from services.dashboard.api import (
    HideDeliveriesQuery,
    LangQuery,
    ServiceQuery,
    TypeQuery,
    feed_item,
)
from services.dashboard.deps import (
    OPERATOR_COOKIE,
    SESSION_TTL_S,
    dashboard_of,
    issue_session,
    operator_caller,
    sign_in_problem,
    verify_operator,
)
from services.dashboard.figures import Figures, figures
from services.dashboard.i18n import DEFAULT_LANG, Formatter, Lang
from services.dashboard.operator import build_report

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
STATIC: dict[str, tuple[Path, str]] = {
    "dashboard.js": (HERE / "static" / "dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": (HERE / "static" / "dashboard.css", "text/css; charset=utf-8"),
}
FEED_PAGE = 50
# The page each full template is, for the navigation and the language switch.
PAGES = {"index.html.j2": ("index", "/"), "surveys.html.j2": ("surveys", "/surveys")}
# Everything the page loads comes from here; no inline script or style is allowed to run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    request: Request, template: str, lang: Lang, status_code: int = 200, **context: Any
) -> HTMLResponse:
    pages: jinja2.Environment = dashboard_of(request).pages
    page, self_path = PAGES.get(template, ("operator", "/operator"))
    # The language switch keeps the page's filters: only the language changes.
    kept = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
    body = pages.get_template(template).render(
        f=Formatter(lang),
        lang=lang,
        page=page,
        self_path=self_path,
        kept_query=f"&{kept}" if kept else "",
        **context,
    )
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return HTMLResponse(body, status_code=status_code, headers=headers)


def event_choices() -> list[tuple[str, list[str]]]:
    """Event names per producing service, for the type filter."""
    return [
        (producer, sorted({model.name for model in ALL_EVENTS if model.producer == producer}))
        for producer in PRODUCERS
    ]


def chart_context(data: Figures, f: Formatter) -> list[dict[str, Any]]:
    history = data.history
    result = []
    for key, series in (
        ("membership", history.membership),
        ("participation", history.participation),
    ):
        points = [(p.date, p.count) for p in series]
        chart = charts.step_chart(points, f.short_date)
        title = f.t("chart_members" if key == "membership" else "chart_participation")
        desc = (
            f.t("chart_desc").format(
                start=f.date(history.start),
                end=f.date(history.end),
                first=chart.first,
                last=chart.last,
                max=chart.maximum,
            )
            if chart
            else f.t("no_data")
        )
        # The table under each chart lists only the days the count changed.
        changes = [p for i, p in enumerate(series) if i == 0 or p.count != series[i - 1].count]
        result.append({"id": key, "title": title, "desc": desc, "chart": chart, "rows": changes})
    return result


async def figures_context(request: Request, lang: Lang) -> dict[str, Any]:
    data = await figures(pool_of(request), dt.date.today())
    return {
        "data": data,
        "charts": chart_context(data, Formatter(lang)),
        "usage": await usage_context(request),
    }


async def usage_context(request: Request) -> dict[str, Any]:
    """The usage section: its figures and one bar chart per agreement (services/dashboard/
    usage.py says what counts as a use and how cost per use is computed)."""
    figures_ = await usage.usage_figures(pool_of(request))
    return {
        "figures": figures_,
        "charts": [(item, usage.chart_of(item)) for item in figures_.agreements],
    }


@router.get("/", response_class=HTMLResponse)
async def index(
    request: Request,
    lang: LangQuery = DEFAULT_LANG,
    type_: TypeQuery = None,
    service: ServiceQuery = None,
    hide_deliveries: HideDeliveriesQuery = False,
) -> HTMLResponse:
    pool = pool_of(request)
    rows, _total = await store.feed_page(
        pool,
        name=type_ or None,
        producer=service or None,
        limit=FEED_PAGE,
        offset=0,
        hide=store.DELIVERIES if hide_deliveries else None,
        grouped=True,
    )
    return render(
        request,
        "index.html.j2",
        lang,
        feed=[feed_item(row, lang, grouped=True) for row in rows],
        last_seq=await store.last_seq(pool),
        selected_type=type_ or "",
        selected_service=service or "",
        hide_deliveries=hide_deliveries,
        choices=event_choices(),
        producers=PRODUCERS,
        **await figures_context(request, lang),
        **governance.page_context(await governance.governance(pool, dt.date.today())),
    )


@router.get("/surveys", response_class=HTMLResponse)
async def surveys_page(request: Request, lang: LangQuery = DEFAULT_LANG) -> HTMLResponse:
    """The member surveys with each closed survey's answer counts per question."""
    data = await governance.governance(pool_of(request), dt.date.today())
    return render(request, "surveys.html.j2", lang, **governance.page_context(data))


@router.get("/fragments/figures", response_class=HTMLResponse)
async def figures_fragment(request: Request, lang: LangQuery = DEFAULT_LANG) -> HTMLResponse:
    """The figures section alone, which the page's script swaps in when events arrive."""
    return render(request, "_figures.html.j2", lang, **await figures_context(request, lang))


@router.get("/operator", response_class=HTMLResponse)
async def operator_view(request: Request, lang: LangQuery = DEFAULT_LANG) -> HTMLResponse:
    try:
        operator_caller(request)
    except ApiError as error:
        # No token yet is the normal way in: the form, without an alarm.
        problem: str | None = sign_in_problem(error)
        problem = None if problem == "token_required" else problem
        return render(request, "login.html.j2", lang, error.status, error=problem)
    dashboard = dashboard_of(request)
    report = await build_report(
        runtime_of(request), dashboard.settings, dashboard.http, dashboard.probe
    )
    return render(request, "operator.html.j2", lang, report=report)


@router.post("/operator/session", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    token: Annotated[str, Form(min_length=1, max_length=4096)],
    lang: Annotated[Lang, Form()] = DEFAULT_LANG,
) -> Response:
    token = token.strip()
    try:
        caller = verify_operator(request, token)
    except ApiError as error:
        return render(request, "login.html.j2", lang, error.status, error=sign_in_problem(error))
    response = RedirectResponse(f"/operator?lang={lang}", status_code=303)
    public_url = runtime_of(request).settings.public_url
    response.set_cookie(
        OPERATOR_COOKIE,
        issue_session(request, caller),  # never the bearer token itself
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=public_url.startswith("https://") or request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/operator/logout")
async def sign_out(lang: Annotated[Lang, Form()] = DEFAULT_LANG) -> Response:
    response = RedirectResponse(f"/operator?lang={lang}", status_code=303)
    response.delete_cookie(OPERATOR_COOKIE, path="/")
    return response


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        raise ApiError(404, f"no static file {name!r}", field="name")
    path, media_type = STATIC[name]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=300"})
