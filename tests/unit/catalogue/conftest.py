"""Shared fixtures for the catalogue unit tests: fixture paths and the OAI-PMH schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "catalogue"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def oai_schema() -> etree.XMLSchema:
    # One driver schema imports the envelope and both payload schemas, all local files,
    # so the strict wildcard in <metadata> is checked too and nothing is fetched.
    driver = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:import namespace="http://www.openarchives.org/OAI/2.0/"
                 schemaLocation="{(FIXTURES / "OAI-PMH.xsd").as_uri()}"/>
      <xs:import namespace="http://www.loc.gov/MARC21/slim"
                 schemaLocation="{(FIXTURES / "MARC21slim.xsd").as_uri()}"/>
      <xs:import namespace="http://www.openarchives.org/OAI/2.0/oai_dc/"
                 schemaLocation="{(FIXTURES / "oai_dc.xsd").as_uri()}"/>
    </xs:schema>"""
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.fromstring(driver.encode(), parser))
