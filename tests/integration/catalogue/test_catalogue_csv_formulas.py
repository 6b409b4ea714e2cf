"""The batch CSVs the catalogue serves neutralise a supplier's text that a spreadsheet would
run as a formula: an ONIX record reference ``=HYPERLINK(...)`` is written with a leading
apostrophe in the findings CSV, and no cell of either CSV starts a formula."""

from __future__ import annotations

import csv
import io

import pytest

from tests.integration.catalogue.conftest import Actors, ok, onix_sample, sign, upload
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration

FORMULA = '=HYPERLINK("http://x","y")'


async def test_batch_csvs_neutralise_a_hostile_record_reference(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    hostile = onix_sample().replace(
        b"fi.esimerkki.ebook.1003", FORMULA.replace('"', "&quot;").encode()
    )
    batch = await upload(catalogue, actors, collection, hostile, filename="hostile.xml")

    findings = ok(
        await catalogue.client.get(batch["links"]["findings_csv"], headers=actors.cataloguer)
    )
    rows = list(csv.DictReader(io.StringIO(findings.decode())))
    assert "'" + FORMULA in {row["reference"] for row in rows}
    summary = ok(
        await catalogue.client.get(batch["links"]["report_csv"], headers=actors.cataloguer)
    )
    for text in (findings.decode(), summary.decode()):
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
