"""Survey results on the dashboard, fed through the real broker: survey-opened, then
survey-closed with its answer counts per question, shown on ``/surveys`` in Finnish, Swedish
and English; an open survey says its results come at the close, and a redelivered close
changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from lxml import html as lxml_html

from contracts.procurement import (
    LocalizedText,
    SurveyClosed,
    SurveyOpened,
    SurveyOptionCount,
    SurveyQuestionResult,
)
from tests.conftest import Infra, wait_for
from tests.integration.dashboard.support import (
    DashboardUnderTest,
    publish,
    shared_dashboard,
    unique,
)

pytestmark = pytest.mark.integration

TODAY = dt.date.today()


@pytest.fixture(scope="session")
async def dashboard(
    request: pytest.FixtureRequest, infra: Infra
) -> AsyncIterator[DashboardUnderTest]:
    async for running_dashboard in shared_dashboard(request, infra):
        yield running_dashboard


def opened(survey_id: str, title_fi: str) -> SurveyOpened:
    return SurveyOpened(
        survey_id=survey_id,
        kind="renewal",
        title=LocalizedText(fi=title_fi, sv=f"{title_fi} (sv)"),
        opens_on=TODAY,
        closes_on=TODAY + dt.timedelta(days=7),
        audience=["FI-A", "FI-B", "FI-C", "FI-D"],
    )


def closed(survey_id: str) -> SurveyClosed:
    return SurveyClosed(
        survey_id=survey_id,
        kind="renewal",
        closes_on=TODAY + dt.timedelta(days=7),
        audience_size=4,
        answered=3,
        results=[
            SurveyQuestionResult(
                question_id="renew",
                kind="single",
                text=LocalizedText(fi="Jatketaanko?", sv="Fortsätter vi?"),
                answered=3,
                options=[
                    SurveyOptionCount(
                        option_id="yes", label=LocalizedText(fi="Kyllä", sv="Ja"), count=2
                    ),
                    SurveyOptionCount(
                        option_id="no", label=LocalizedText(fi="Ei", sv="Nej"), count=1
                    ),
                ],
            ),
            SurveyQuestionResult(
                question_id="loans",
                kind="number",
                text=LocalizedText(fi="Lainoja", sv="Lån"),
                answered=2,
                mean=1234.5,
            ),
        ],
    )


def section(page: str, survey_id: str) -> lxml_html.HtmlElement:
    [found] = lxml_html.document_fromstring(page).xpath(f"//section[@data-survey='{survey_id}']")
    return found


def rows(table: lxml_html.HtmlElement) -> dict[str, str]:
    return {
        tr.get("data-option"): tr.xpath("string(td)").replace("\u00a0", " ")
        for tr in table.xpath(".//tr[@data-option]")
    }


async def test_survey_results_reach_the_page_in_each_language(
    infra: Infra, dashboard: DashboardUnderTest
) -> None:
    done, running = unique("S-R"), unique("S-R")
    await publish(infra, [opened(done, "Tulosten kysely"), opened(running, "Avoin kysely")])
    ids = await publish(infra, [closed(done)])

    async def results_arrived() -> bool:
        return bool(
            await dashboard.pool.fetchval(
                "SELECT results IS NOT NULL FROM surveys WHERE survey_id = $1", done
            )
        ) and bool(
            await dashboard.pool.fetchval(
                "SELECT count(*) FROM surveys WHERE survey_id = $1", running
            )
        )

    await wait_for(results_arrived, timeout_s=30)

    expected = {
        "fi": ("Jatketaanko?", "Kyllä", "1 234,5", "Tulokset julkaistaan"),
        "sv": ("Fortsätter vi?", "Ja", "1 234,5", "Resultaten publiceras"),
        "en": ("Jatketaanko?", "Kyllä", "1,234.5", "The results are published"),
    }
    for lang, (question, yes, mean, pending) in expected.items():
        response = await dashboard.client.get("/surveys", params={"lang": lang})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        result = section(response.text, done)
        renew = result.xpath(".//table[@data-question='renew']")[0]
        assert renew.xpath("string(caption)") == question
        assert rows(renew) == {"yes": "2", "no": "1", "answered": "3"}
        assert renew.xpath("string(.//tr[@data-option='yes']/th)") == yes
        loans = result.xpath(".//table[@data-question='loans']")[0]
        assert rows(loans) == {"mean": mean, "answered": "2"}
        assert result.xpath("string(.//span[@data-figure='answered'])") == "3"
        assert result.xpath("string(.//span[@data-figure='asked'])") == "4"
        waiting = section(response.text, running)
        assert waiting.get("data-status") == "open"
        assert pending in waiting.text_content()
        assert not waiting.xpath(".//table")

    # The JSON API carries the same counts.
    api = (await dashboard.client.get("/api/governance")).json()
    [survey] = [s for s in api["surveys"] if s["survey_id"] == done]
    assert [o["count"] for o in survey["results"][0]["options"]] == [2, 1]

    # The same close again (a redelivery under a new id) leaves the counts as they were.
    again = await publish(infra, [closed(done)])

    async def handled() -> bool:
        n = await dashboard.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = ANY($1::text[])", [*ids, *again]
        )
        return n == 2

    await wait_for(handled, timeout_s=30)
    page = await dashboard.client.get("/surveys", params={"lang": "fi"})
    renew = section(page.text, done).xpath(".//table[@data-question='renew']")[0]
    assert rows(renew) == {"yes": "2", "no": "1", "answered": "3"}
