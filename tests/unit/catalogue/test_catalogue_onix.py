"""ONIX 3.0 → MARC 21 conversion against hand-written supplier samples."""

from __future__ import annotations

import re
from pathlib import Path

from pymarc import Record

from services.catalogue.formats.readers import ParseFailure, read_onix


def _fields(record: Record) -> list[str]:
    # 884 $g is the day of the conversion: the tests compare everything else.
    return [re.sub(r"\$g\d{8}", "$gDATE", str(f)) for f in record.get_fields()]


def _read(path: Path) -> list[Record | ParseFailure]:
    with path.open("rb") as stream:
        return list(read_onix(stream))


def test_finnish_ebook_with_author_and_translator(fixtures: Path) -> None:
    record = _read(fixtures / "onix_sample.xml")[0]
    assert isinstance(record, Record)
    assert str(record.leader) == "00000nam a22000005i 4500"
    assert _fields(record) == [
        "=001  fi.esimerkki.ebook.1001",
        r"=006  m\\\\\o\\d\\\\\\\\",
        "=007  cr||||||||||||",
        r"=008  250915s2025\\\\fi\\\\\\o\\\\\000\|\fin\d",
        r"=020  \\$a978-951-31-1234-9$qEPUB",
        r"=040  \\$aFI-KONS$bfin$erda$dFI-KONS",
        r"=041  1\$afin$heng",
        r"=100  1\$aAtwoodson, Margaret,$ekirjoittaja.",
        "=245  10$aMeren muisti :$bromaani /$cMargaret Atwoodson ; suomentanut Kaisa Sivenius.",
        r"=264  \1$aHelsinki :$bKustannus Aalto,$c2025.",
        r"=300  \\$a1 verkkoaineisto (384 sivua)",
        r"=336  \\$ateksti$btxt$2rdacontent",
        r"=337  \\$atietokonekäyttöinen$bc$2rdamedia",
        r"=338  \\$averkkoaineisto$bcr$2rdacarrier",
        r"=347  \\$atekstitiedosto$bEPUB$2rdaft",
        r"=500  \\$aKoneellisesti tuotettu tietue.",
        r"=520  \\$aKolmen sukupolven tarina saaristosta.",
        r"=653  \\$ameri",
        r"=653  \\$amuisti",
        r"=653  \\$aperhe",
        r"=700  1\$aSivenius, Kaisa,$ekääntäjä.",
        r"=856  40$uhttps://lainaa.example.fi/kirja/9789513112349$yLinkki verkkoaineistoon",
        r"=884  \\$aONIX3 to MARC transformation$gDATE$kfi.esimerkki.ebook.1001:c034d4d950204d3f"
        "$qFI-KONS$5MELINDA",
    ]


def test_swedish_audiobook_with_author_and_reader(fixtures: Path) -> None:
    record = _read(fixtures / "onix_sample.xml")[1]
    assert isinstance(record, Record)
    assert str(record.leader) == "00000nim a22000005i 4500"
    assert _fields(record) == [
        "=001  se.exempel.audio.2002",
        r"=006  m\\\\\o\\h\\\\\\\\",
        "=007  cr||||||||||||",
        "=007  sr|||||||||||",
        r"=008  240402s2024\\\\fi\nnn\\o\\\\\\||\n\swe\d",
        r"=020  \\$a978-952-04-2001-7$qMP3",
        r"=040  \\$aFI-KONS$bswe$erda$dFI-KONS",
        r"=041  0\$dswe",
        r"=100  1\$aLundqvist, Ulla-Lena,$eförfattare.",
        "=245  10$aSkärgårdens hemligheter /$cUlla-Lena Lundqvist ; uppläsare Stina Ekblad-Holm.",
        r"=264  \1$aHelsingfors :$bFörlaget Holm Ab,$c2024.",
        r"=300  \\$a1 onlineresurs (10 tim 35 min)",
        r"=306  \\$a103500",
        r"=336  \\$atal$bspw$2rdacontent",
        r"=337  \\$adator$bc$2rdamedia",
        r"=338  \\$aonlineresurs$bcr$2rdacarrier",
        r"=344  \\$adigital$2rdatr",
        r"=347  \\$aljudfil$bMP3$2rdaft",
        r"=500  \\$aMaskinellt producerad post.",
        r"=511  0\$aUppläsare: Stina Ekblad-Holm.",
        r"=700  1\$aEkblad-Holm, Stina,$euppläsare.",
        r"=856  40$uhttps://lana.example.fi/bok/9789520420017$yLänk till e-resursen",
        r"=884  \\$aONIX3 to MARC transformation$gDATE$kse.exempel.audio.2002:8cd691ca099d0690"
        "$qFI-KONS$5MELINDA",
    ]


def test_several_contributors_in_sequence_order_with_edition(fixtures: Path) -> None:
    record = _read(fixtures / "onix_sample.xml")[2]
    assert isinstance(record, Record)
    assert [str(f) for f in record.get_fields("020", "100", "245", "250", "700", "347")] == [
        r"=020  \\$a978-951-0-05678-3$qPDF",
        r"=100  1\$aMäkelä, Liisa,$ekirjoittaja.",
        "=245  10$aSienet ja marjat :$bkeräilijän opas /"
        "$cLiisa Mäkelä, Pekka Virtanen ; kuvittanut Aino Kuusi.",
        r"=250  \\$a2. painos.",
        r"=347  \\$atekstitiedosto$bPDF$2rdaft",
        r"=700  1\$aVirtanen, Pekka,$ekirjoittaja.",
        r"=700  1\$aKuusi, Aino,$ekuvittaja.",
    ]
    # No Website and no url_template: the national resolver, not a rejection.
    assert [str(f) for f in record.get_fields("856")] == [
        r"=856  40$uhttp://urn.fi/URN:ISBN:978-951-0-05678-3$yLinkki verkkoaineistoon"
    ]


def test_print_product_is_a_parse_failure_and_does_not_stop_the_batch(fixtures: Path) -> None:
    items = _read(fixtures / "onix_sample.xml")
    assert len(items) == 4
    failure = items[3]
    assert isinstance(failure, ParseFailure)
    assert failure.position == 4
    assert failure.reference == "fi.esimerkki.print.1004"
    assert "BC" in failure.message


def test_short_tags_and_url_template(fixtures: Path) -> None:
    with (fixtures / "onix_short.xml").open("rb") as stream:
        (record,) = list(read_onix(stream, url_template="https://lainaa.example.fi/{isbn}"))
    assert isinstance(record, Record)
    assert [str(f) for f in record.get_fields("020", "100", "245", "264", "856")] == [
        r"=020  \\$a978-951-1-31234-5$qEPUB",
        r"=100  1\$aKoskinen, Matti,$ekirjoittaja.",
        "=245  10$aTalvisodan kirjeet /$cMatti Koskinen.",
        r"=264  \1$a[Julkaisupaikka tuntematon] :$bHistoriakirjat,$c2022.",
        r"=856  40$uhttps://lainaa.example.fi/9789511312345$yLinkki verkkoaineistoon",
    ]
