"""XML title lists are read in bounded memory whatever their shape: elements that are not
records are freed as the parser goes, so a 30 MB file whose bulk is one huge element the
converter never reads costs a few MB, not the file's tree (several times its size).

Resident memory comes from /proc/self/status (libxml2 allocates outside Python's heap, so
tracemalloc would not see it); the bound is in MB, never in time."""

from __future__ import annotations

import gc
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.catalogue.formats.readers import ParseFailure, read_marcxml, read_onix

ONIX_NS = "http://ns.editeur.org/onix/3.0/reference"
MARC_NS = "http://www.loc.gov/MARC21/slim"
FILE_MB = 30
GROWTH_BOUND_MB = 20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def product(number: int) -> str:
    return (
        f"<Product><RecordReference>r{number}</RecordReference><ProductIdentifier>"
        f"<ProductIDType>15</ProductIDType><IDValue>978952000000{number}</IDValue>"
        "</ProductIdentifier><DescriptiveDetail><ProductForm>EB</ProductForm><TitleDetail>"
        "<TitleType>01</TitleType><TitleElement><TitleElementLevel>01</TitleElementLevel>"
        f"<TitleText>Kirja {number}</TitleText></TitleElement></TitleDetail>"
        "</DescriptiveDetail></Product>"
    )


def bulk(tag: str) -> Iterator[str]:
    """About FILE_MB of small elements inside ONE element that is not a record."""
    piece = f"<{tag}><Item>{'x' * 90}</Item><Item>{'y' * 90}</Item></{tag}>"
    yield "<Bulk>"
    for _ in range(FILE_MB * 2**20 // len(piece)):
        yield piece
    yield "</Bulk>"


def onix_file(path: Path) -> None:
    with path.open("w") as out:
        out.write(f'<?xml version="1.0"?><ONIXMessage release="3.0" xmlns="{ONIX_NS}">')
        out.write(product(1))
        out.writelines(bulk("Note"))
        out.write(product(2) + "</ONIXMessage>")


def marcxml_file(path: Path) -> None:
    record = (
        '<record><leader>00000nam a2200000 i 4500</leader><controlfield tag="001">r1'
        '</controlfield><datafield tag="245" ind1="0" ind2="0"><subfield code="a">Kirja'
        "</subfield></datafield></record>"
    )
    with path.open("w") as out:
        out.write(f'<?xml version="1.0"?><collection xmlns="{MARC_NS}">{record}')
        out.writelines(bulk("extra"))
        out.write(record + "</collection>")


@pytest.mark.parametrize(
    ("writer", "reader"), [(onix_file, read_onix), (marcxml_file, read_marcxml)]
)
def test_a_huge_element_that_is_no_record_is_freed_as_it_is_read(
    tmp_path: Path, writer: object, reader: object
) -> None:
    path = tmp_path / "big.xml"
    writer(path)  # type: ignore[operator]  # the test knows the value is callable
    assert path.stat().st_size > (FILE_MB - 1) * 2**20
    gc.collect()
    baseline = rss_mb()
    peak = baseline
    items = []
    with path.open("rb") as stream:
        for item in reader(stream):  # type: ignore[operator]  # the test knows the value is callable
            peak = max(peak, rss_mb())
            items.append(item)
    peak = max(peak, rss_mb())
    assert len(items) == 2 and not any(isinstance(i, ParseFailure) for i in items), items
    # The second record comes after the bulk: had the bulk's tree been kept, it would be in
    # memory now (hundreds of MB for 30 MB of elements).
    assert peak - baseline < GROWTH_BOUND_MB, f"grew {peak - baseline:.0f} MB"


def test_records_inside_a_container_are_still_read() -> None:
    data = (
        f'<ONIXMessage xmlns="{ONIX_NS}"><Header><Sender>x</Sender></Header>'
        f"<Group>{product(1)}</Group>{product(2)}</ONIXMessage>"
    ).encode()
    items = list(read_onix(io.BytesIO(data)))
    assert len(items) == 2
