"""A contact has exactly one syntactically valid e-mail address (email-validator, no DNS)."""

import pytest
from pydantic import ValidationError

from contracts.membership import Contact
from services.membership.api import LibraryIn


def _contact(email: str) -> dict[str, str]:
    return {"name": "Aino", "email": email, "role": "director", "language": "fi"}


@pytest.mark.parametrize(
    "email",
    [
        "postmaster,all-staff,x@c.fi",
        "a@c.fi;b@c.fi",
        "a@c.fi b@c.fi",
        "aino@",
        "aino..virtanen@tornio.fi",
        "aino@tornio..fi",
        "aino@-tornio.fi",
    ],
)
def test_a_list_or_a_malformed_address_is_refused_naming_the_field(email: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Contact.model_validate(_contact(email))
    assert caught.value.errors()[0]["loc"] == ("email",)


def test_a_list_of_addresses_is_refused_in_the_membership_request() -> None:
    body = {
        "isil": "FI-Tro",
        "names": {"fi": "Tornion kirjasto"},
        "municipalities": ["851"],
        "library_system": "Koha",
        "contacts": [_contact("postmaster,all-staff,x@c.fi")],
    }
    with pytest.raises(ValidationError) as caught:
        LibraryIn.model_validate(body)
    assert caught.value.errors()[0]["loc"] == ("contacts", 0, "email")


@pytest.mark.parametrize("email", ["aino.virtanen@tornio.fi", "kirjasto+hankinnat@oulu.fi"])
def test_a_single_address_is_kept_as_written(email: str) -> None:
    assert Contact.model_validate(_contact(email)).email == email
