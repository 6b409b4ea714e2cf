"""The page in Finnish, Swedish and English: texts, number and date formats, event names and
summaries. Every text a person reads on the dashboard comes from the tables here, in all three
languages (the consortium serves Swedish-speaking municipalities too).

Formats follow each language's convention in Finland (Finnish and Finland-Swedish: ``5 635 971``,
``1,2 %``, ``12 345 €``, ``14.5.2026``; English: ``5,635,971``, ``1.2%``, ``€12,345``,
``14 May 2026``). Times are shown in Helsinki time, the consortium's own.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

Lang = Literal["fi", "sv", "en"]
LANGUAGES: tuple[Lang, ...] = ("fi", "sv", "en")
DEFAULT_LANG: Lang = "fi"
HELSINKI = ZoneInfo("Europe/Helsinki")
NBSP = "\u00a0"

TEXTS: dict[str, dict[Lang, str]] = {
    "title": {
        "fi": "Konsortion tilannekuva",
        "sv": "Konsortiets lägesbild",
        "en": "Consortium dashboard",
    },
    "operator_title": {"fi": "Ylläpitonäkymä", "sv": "Driftvy", "en": "Operator view"},
    "skip": {
        "fi": "Siirry pääsisältöön",
        "sv": "Hoppa till huvudinnehållet",
        "en": "Skip to main content",
    },
    "language": {"fi": "Kieli", "sv": "Språk", "en": "Language"},
    "nav_label": {
        "fi": "Sivuston navigointi",
        "sv": "Webbplatsens navigering",
        "en": "Site navigation",
    },
    "nav_dashboard": {"fi": "Tilannekuva", "sv": "Lägesbild", "en": "Dashboard"},
    "nav_operator": {"fi": "Ylläpito", "sv": "Drift", "en": "Operator view"},
    "figures": {"fi": "Tunnusluvut", "sv": "Nyckeltal", "en": "Key figures"},
    "members": {"fi": "Jäsenkirjastot", "sv": "Medlemsbibliotek", "en": "Member libraries"},
    "members_active": {
        "fi": "aktiivista jäsentä",
        "sv": "aktiva medlemmar",
        "en": "active members",
    },
    "population_served": {"fi": "asukasta", "sv": "invånare", "en": "residents served"},
    "of_finland": {
        "fi": "Suomen väestöstä",
        "sv": "av Finlands befolkning",
        "en": "of Finland's population",
    },
    "agreements": {"fi": "Puitesopimukset", "sv": "Ramavtal", "en": "Framework agreements"},
    "agreements_active": {
        "fi": "voimassa olevaa sopimusta",
        "sv": "gällande avtal",
        "en": "active agreements",
    },
    "participations": {"fi": "osallistumista", "sv": "anslutningar", "en": "participations"},
    "annual_cost_total": {
        "fi": "vuosikustannukset yhteensä",
        "sv": "årskostnader totalt",
        "en": "annual cost in total",
    },
    "catalogue": {"fi": "Luettelointi", "sv": "Katalogisering", "en": "Catalogue"},
    "records_total": {
        "fi": "tietuetta kokoelmissa",
        "sv": "poster i samlingarna",
        "en": "records in collections",
    },
    "collections_n": {"fi": "Kokoelmia", "sv": "Samlingar", "en": "Collections"},
    "outreach": {"fi": "Viestintä", "sv": "Kommunikation", "en": "Outreach"},
    "sent": {"fi": "lähetetty", "sv": "skickade", "en": "sent"},
    "failed": {"fi": "epäonnistunut", "sv": "misslyckade", "en": "failed"},
    "procurement": {"fi": "Hankinnat", "sv": "Upphandlingar", "en": "Procurement"},
    "tenders_open": {
        "fi": "avointa kilpailutusta",
        "sv": "öppna anbudsförfaranden",
        "en": "open tenders",
    },
    "needs": {"fi": "hankintatarvetta", "sv": "anskaffningsbehov", "en": "proposed needs"},
    "agreement": {"fi": "Sopimus", "sv": "Avtal", "en": "Agreement"},
    "supplier": {"fi": "Toimittaja", "sv": "Leverantör", "en": "Supplier"},
    "participants": {"fi": "Osallistujat", "sv": "Deltagare", "en": "Participants"},
    "coverage": {"fi": "Väestökattavuus", "sv": "Befolkningstäckning", "en": "Population coverage"},
    "annual_cost": {"fi": "Vuosikustannus", "sv": "Årskostnad", "en": "Annual cost"},
    "agreements_caption": {
        "fi": "Voimassa olevat puitesopimukset",
        "sv": "Gällande ramavtal",
        "en": "Active framework agreements",
    },
    "agreement_period": {"fi": "Kausi", "sv": "Period", "en": "Period"},
    "identifier": {"fi": "Tunnus", "sv": "Beteckning", "en": "Identifier"},
    "no_agreements": {
        "fi": "Ei voimassa olevia sopimuksia.",
        "sv": "Inga gällande avtal.",
        "en": "No active agreements.",
    },
    "collection": {"fi": "Kokoelma", "sv": "Samling", "en": "Collection"},
    "records": {"fi": "Tietueet", "sv": "Poster", "en": "Records"},
    "libraries": {"fi": "Kirjastot", "sv": "Bibliotek", "en": "Libraries"},
    "accepted_share": {"fi": "Hyväksytty", "sv": "Godkända", "en": "Accepted"},
    "warnings": {"fi": "Varoitukset", "sv": "Varningar", "en": "Warnings"},
    "collections_caption": {
        "fi": "Tietueet kokoelmittain ja niiden laatu",
        "sv": "Poster per samling och deras kvalitet",
        "en": "Records per collection and their quality",
    },
    "no_collections": {
        "fi": "Ei vielä kokoelmia.",
        "sv": "Inga samlingar ännu.",
        "en": "No collections yet.",
    },
    "kind": {"fi": "Viestityyppi", "sv": "Meddelandetyp", "en": "Message kind"},
    "deliveries_caption": {
        "fi": "Lähetetyt ja epäonnistuneet viestit tyypeittäin",
        "sv": "Skickade och misslyckade meddelanden per typ",
        "en": "Messages sent and failed, by kind",
    },
    "no_deliveries": {
        "fi": "Ei vielä viestejä.",
        "sv": "Inga meddelanden ännu.",
        "en": "No messages yet.",
    },
    "total": {"fi": "Yhteensä", "sv": "Totalt", "en": "Total"},
    "charts": {"fi": "Kehitys", "sv": "Utveckling", "en": "Over time"},
    "usage_heading": {"fi": "Käyttö", "sv": "Användning", "en": "Usage"},
    "usage_uses": {"fi": "Käyttökerrat", "sv": "Användningar", "en": "Uses"},
    "usage_uses_total": {
        "fi": "käyttökertaa raportoitu",
        "sv": "rapporterade användningar",
        "en": "uses reported",
    },
    "usage_harvest_failures": {
        "fi": "epäonnistunutta SUSHI-hakua",
        "sv": "misslyckade SUSHI-hämtningar",
        "en": "failed SUSHI harvests",
    },
    "usage_invoice_discrepancies": {
        "fi": "laskupoikkeamaa",
        "sv": "fakturaavvikelser",
        "en": "invoice discrepancies",
    },
    "usage_note": {
        "fi": "Käyttökerta on COUNTER-raportin Unique_Title_Requests tai toimittajan lainat. "
        "Kappalehinta on sopimuksen vuosihinta jaettuna kaikkien osallistujien vuoden "
        "käyttökerroilla.",
        "sv": "En användning är COUNTER-rapportens Unique_Title_Requests eller leverantörens "
        "lån. Kostnad per användning är avtalets årskostnad delad med alla deltagares "
        "användningar under året.",
        "en": "A use is a COUNTER report's Unique_Title_Requests or a supplier's loans. Cost "
        "per use is the agreement's annual cost divided by all participants' uses in the year.",
    },
    "usage_chart": {
        "fi": "Käyttö kuukausittain",
        "sv": "Användning per månad",
        "en": "Use per month",
    },
    "usage_chart_desc": {
        "fi": "{months} kuukautta, yhteensä {total} käyttökertaa, enintään {max} kuukaudessa.",
        "sv": "{months} månader, sammanlagt {total} användningar, högst {max} per månad.",
        "en": "{months} months, {total} uses in all, at most {max} in a month.",
    },
    "usage_by_library": {
        "fi": "Käyttö kirjastoittain ja kuukausittain",
        "sv": "Användning per bibliotek och månad",
        "en": "Use per library and month",
    },
    "usage_month": {"fi": "Kuukausi", "sv": "Månad", "en": "Month"},
    "usage_library": {"fi": "Kirjasto (ISIL)", "sv": "Bibliotek (ISIL)", "en": "Library (ISIL)"},
    "usage_year": {"fi": "Vuosi", "sv": "År", "en": "Year"},
    "usage_cost_caption": {
        "fi": "Hinta käyttökertaa kohden sopimuksittain ja vuosittain",
        "sv": "Kostnad per användning per avtal och år",
        "en": "Cost per use by agreement and year",
    },
    "usage_cost_per_use": {
        "fi": "Hinta / käyttökerta",
        "sv": "Kostnad / användning",
        "en": "Cost per use",
    },
    "usage_none": {
        "fi": "Käyttötietoja ei ole vielä raportoitu.",
        "sv": "Ingen användning har rapporterats ännu.",
        "en": "No usage has been reported yet.",
    },
    "chart_members": {
        "fi": "Jäsenkirjastot päivittäin",
        "sv": "Medlemsbibliotek per dag",
        "en": "Member libraries per day",
    },
    "chart_participation": {
        "fi": "Sopimusosallistumiset päivittäin",
        "sv": "Avtalsanslutningar per dag",
        "en": "Agreement participations per day",
    },
    "chart_desc": {
        "fi": "Porrasviivakaavio {start}–{end}: alussa {first}, lopussa {last}, enimmillään {max}.",
        "sv": "Stegdiagram {start}–{end}: {first} i början, {last} i slutet, högst {max}.",
        "en": "Step chart {start} to {end}: {first} at the start, {last} at the end, "
        "at most {max}.",
    },
    "chart_data": {
        "fi": "Kaavion tiedot taulukkona",
        "sv": "Diagrammets data som tabell",
        "en": "Chart data as a table",
    },
    "date": {"fi": "Päivä", "sv": "Datum", "en": "Date"},
    "count": {"fi": "Määrä", "sv": "Antal", "en": "Count"},
    "no_data": {"fi": "Ei vielä tietoja.", "sv": "Inga uppgifter ännu.", "en": "No data yet."},
    "feed": {"fi": "Tapahtumavirta", "sv": "Händelseflöde", "en": "Live event feed"},
    "filter_type": {"fi": "Tapahtumatyyppi", "sv": "Händelsetyp", "en": "Event type"},
    "filter_service": {"fi": "Palvelu", "sv": "Tjänst", "en": "Service"},
    "hide_deliveries": {
        "fi": "Piilota viestien toimitukset",
        "sv": "Dölj meddelandeleveranser",
        "en": "Hide message deliveries",
    },
    "all": {"fi": "Kaikki", "sv": "Alla", "en": "All"},
    "apply_filters": {"fi": "Suodata", "sv": "Filtrera", "en": "Filter"},
    "clear_filters": {"fi": "Poista suodattimet", "sv": "Ta bort filter", "en": "Clear filters"},
    "feed_empty": {"fi": "Ei tapahtumia.", "sv": "Inga händelser.", "en": "No events."},
    "live_connecting": {"fi": "Yhdistetään…", "sv": "Ansluter…", "en": "Connecting…"},
    "live_connected": {
        "fi": "Reaaliaikainen yhteys päällä",
        "sv": "Realtidsuppdatering på",
        "en": "Live updates on",
    },
    "live_lost": {
        "fi": "Yhteys katkesi, yhdistetään uudelleen…",
        "sv": "Anslutningen bröts, ansluter igen…",
        "en": "Connection lost, reconnecting…",
    },
    "event_time": {"fi": "Aika", "sv": "Tid", "en": "Time"},
    "event_type": {"fi": "Tyyppi", "sv": "Typ", "en": "Type"},
    "event_key": {"fi": "Avain", "sv": "Nyckel", "en": "Key"},
    "footer": {
        "fi": "Luvut lasketaan tapahtumavirrasta. Sivulla ei näytetä henkilötietoja.",
        "sv": "Siffrorna beräknas ur händelseflödet. Sidan visar inga personuppgifter.",
        "en": "Figures are computed from the event stream. No personal data is shown.",
    },
    # operator view
    "login_title": {
        "fi": "Kirjaudu ylläpitonäkymään",
        "sv": "Logga in i driftvyn",
        "en": "Sign in to the operator view",
    },
    "login_help": {
        "fi": "Liitä ylläpitäjän tai koordinaattorin tunniste (bearer token).",
        "sv": "Klistra in en driftansvarigs eller koordinators nyckel (bearer token).",
        "en": "Paste an operator or coordinator token (bearer token).",
    },
    "token": {"fi": "Tunniste", "sv": "Nyckel", "en": "Token"},
    "token_required": {
        "fi": "Tunniste puuttuu. Liitä tunniste kenttään.",
        "sv": "Nyckeln saknas. Klistra in den i fältet.",
        "en": "A token is required. Paste it into the field.",
    },
    "token_invalid": {
        "fi": "Tunniste ei kelpaa: se on vajaa, väärin kopioitu tai toisen järjestelmän.",
        "sv": "Nyckeln är ogiltig: den är ofullständig, felkopierad eller från ett annat system.",
        "en": "The token is not valid: it is incomplete, mis-copied or from another system.",
    },
    "token_expired": {
        "fi": "Tunniste on vanhentunut. Hanki uusi tunniste.",
        "sv": "Nyckeln har gått ut. Skaffa en ny nyckel.",
        "en": "The token has expired. Get a new one.",
    },
    "token_unchecked": {
        "fi": "Tunnisteita ei voi tarkistaa: palvelulle ei ole asetettu avainta.",
        "sv": "Nycklar kan inte kontrolleras: tjänsten har ingen nyckel inställd.",
        "en": "Tokens cannot be checked: this service has no token key configured.",
    },
    "token_wrong_role": {
        "fi": "Tällä tunnisteella ei näe ylläpitonäkymää: tarvitaan ylläpitäjän tai "
        "koordinaattorin rooli.",
        "sv": "Den här nyckeln ger inte tillgång till driftvyn: rollen driftansvarig eller "
        "koordinator krävs.",
        "en": "This token may not see the operator view: it needs the operator or "
        "coordinator role.",
    },
    "sign_in": {"fi": "Kirjaudu", "sv": "Logga in", "en": "Sign in"},
    "sign_out": {"fi": "Kirjaudu ulos", "sv": "Logga ut", "en": "Sign out"},
    "health": {"fi": "Palveluiden tila", "sv": "Tjänsternas status", "en": "Service health"},
    "service": {"fi": "Palvelu", "sv": "Tjänst", "en": "Service"},
    "status": {"fi": "Tila", "sv": "Status", "en": "Status"},
    "checks": {"fi": "Tarkistukset", "sv": "Kontroller", "en": "Checks"},
    "outbox_backlog": {
        "fi": "Lähtevät jonossa (outbox)",
        "sv": "Utgående i kö (outbox)",
        "en": "Outbox backlog",
    },
    "ready": {"fi": "valmis", "sv": "redo", "en": "ready"},
    "not ready": {"fi": "ei valmis", "sv": "inte redo", "en": "not ready"},
    "unreachable": {"fi": "ei tavoitettavissa", "sv": "kan inte nås", "en": "unreachable"},
    "lag": {"fi": "Kuluttajien viive", "sv": "Konsumenternas eftersläpning", "en": "Consumer lag"},
    "group": {"fi": "Ryhmä", "sv": "Grupp", "en": "Group"},
    "topic": {"fi": "Aihe", "sv": "Ämne", "en": "Topic"},
    "partition": {"fi": "Osio", "sv": "Partition", "en": "Partition"},
    "committed": {"fi": "Kuitattu", "sv": "Kvitterad", "en": "Committed"},
    "end": {"fi": "Loppu", "sv": "Slut", "en": "End"},
    "lag_col": {"fi": "Viive", "sv": "Eftersläpning", "en": "Lag"},
    "no_offsets": {
        "fi": "ei kuitattuja siirtymiä",
        "sv": "inga kvitterade positioner",
        "en": "no committed offsets",
    },
    "broker_error": {
        "fi": "Välittäjään ei saatu yhteyttä",
        "sv": "Meddelandeförmedlaren kunde inte nås",
        "en": "The broker was not reachable",
    },
    "dead_letters": {
        "fi": "Käsittelemättömät viestit (DLQ)",
        "sv": "Obehandlade meddelanden (DLQ)",
        "en": "Dead letters",
    },
    "dead_letter_counts": {
        "fi": "Käsittelemättömät viestit aiheittain ja ryhmittäin",
        "sv": "Obehandlade meddelanden per ämne och grupp",
        "en": "Dead letters by topic and consumer group",
    },
    "latest_reasons": {"fi": "Viimeisimmät syyt", "sv": "Senaste orsaker", "en": "Latest reasons"},
    "reason": {"fi": "Syy", "sv": "Orsak", "en": "Reason"},
    "error_class": {"fi": "Virheluokka", "sv": "Felklass", "en": "Error class"},
    "no_dead_letters": {
        "fi": "Ei käsittelemättömiä viestejä.",
        "sv": "Inga obehandlade meddelanden.",
        "en": "No dead letters.",
    },
    "refresh": {"fi": "Päivitä", "sv": "Uppdatera", "en": "Refresh"},
    "generated": {"fi": "Päivitetty", "sv": "Uppdaterad", "en": "Generated"},
    "yes": {"fi": "kyllä", "sv": "ja", "en": "yes"},
    "no": {"fi": "ei", "sv": "nej", "en": "no"},
}

# The readiness checks a service reports (kit.app's /health/ready); a check this list does
# not know yet is shown by its name.
CHECKS: dict[str, dict[Lang, str]] = {
    "database": {"fi": "tietokanta", "sv": "databas", "en": "database"},
    "migrations": {"fi": "tietokantamuutokset", "sv": "databasändringar", "en": "migrations"},
    "broker": {"fi": "välittäjä", "sv": "förmedlare", "en": "broker"},
}

SERVICE_NAMES: dict[str, dict[Lang, str]] = {
    "membership": {"fi": "Jäsenyys", "sv": "Medlemskap", "en": "Membership"},
    "procurement": {"fi": "Hankinnat", "sv": "Upphandling", "en": "Procurement"},
    "catalogue": {"fi": "Luettelointi", "sv": "Katalogisering", "en": "Catalogue"},
    "outreach": {"fi": "Viestintä", "sv": "Kommunikation", "en": "Outreach"},
    "usage": {"fi": "Käyttötilastot", "sv": "Användningsstatistik", "en": "Usage"},
    "dashboard": {"fi": "Tilannekuva", "sv": "Lägesbild", "en": "Dashboard"},
}

# Each event's name as people read it, in place of its contract name (member-joined).
EVENT_NAMES: dict[str, dict[Lang, str]] = {
    "member-joined": {"fi": "Jäsen liittyi", "sv": "Medlem anslöt sig", "en": "Member joined"},
    "member-updated": {
        "fi": "Jäsenen tiedot muuttuivat",
        "sv": "Medlemsuppgifter ändrades",
        "en": "Member details changed",
    },
    "member-left": {"fi": "Jäsen erosi", "sv": "Medlem utträdde", "en": "Member left"},
    "decision-recorded": {
        "fi": "Päätös kirjattu",
        "sv": "Beslut registrerat",
        "en": "Decision recorded",
    },
    "survey-opened": {
        "fi": "Jäsenkysely avattu",
        "sv": "Medlemsenkät öppnad",
        "en": "Survey opened",
    },
    "survey-reminder-due": {
        "fi": "Kyselyn muistutus",
        "sv": "Påminnelse om enkäten",
        "en": "Survey reminder due",
    },
    "survey-closed": {
        "fi": "Jäsenkysely suljettu",
        "sv": "Medlemsenkät stängd",
        "en": "Survey closed",
    },
    "annual-report-published": {
        "fi": "Vuosiraportti julkaistu",
        "sv": "Årsrapport publicerad",
        "en": "Annual report published",
    },
    "appeal-lodged": {
        "fi": "Valitus markkinaoikeuteen",
        "sv": "Besvär till marknadsdomstolen",
        "en": "Appeal lodged",
    },
    "appeal-resolved": {
        "fi": "Valitus ratkaistu",
        "sv": "Besvär avgjort",
        "en": "Appeal resolved",
    },
    "question-answered": {
        "fi": "Tarjoajan kysymykseen vastattu",
        "sv": "Anbudsgivarens fråga besvarad",
        "en": "Question answered",
    },
    "standstill-ended": {
        "fi": "Odotusaika päättyi",
        "sv": "Väntetiden löpte ut",
        "en": "Standstill ended",
    },
    "decision-corrected": {
        "fi": "Hankintapäätös oikaistu",
        "sv": "Upphandlingsbeslut rättat",
        "en": "Procurement decision corrected",
    },
    "invoice-lines-issued": {
        "fi": "Laskurivit muodostettu",
        "sv": "Fakturarader utfärdade",
        "en": "Invoice lines issued",
    },
    "cancellation-deadline-approaching": {
        "fi": "Irtisanomisen määräpäivä lähestyy",
        "sv": "Uppsägningsdagen närmar sig",
        "en": "Cancellation deadline approaching",
    },
    "entitlements-changed": {
        "fi": "Käyttöoikeudet muuttuivat",
        "sv": "Rättigheter ändrades",
        "en": "Entitlements changed",
    },
    "usage-reported": {
        "fi": "Käyttötilasto kirjattu",
        "sv": "Användningsstatistik registrerad",
        "en": "Usage reported",
    },
    "usage-harvest-failed": {
        "fi": "Käyttötilaston haku epäonnistui",
        "sv": "Hämtning av användningsstatistik misslyckades",
        "en": "Usage harvest failed",
    },
    "invoice-discrepancy-found": {
        "fi": "Laskussa poikkeama",
        "sv": "Avvikelse i fakturan",
        "en": "Invoice discrepancy found",
    },
    "organisation-updated": {
        "fi": "Organisaation tiedot muuttuivat",
        "sv": "Organisationens uppgifter ändrades",
        "en": "Organisation updated",
    },
    "kimppa-updated": {
        "fi": "Kimpan tiedot muuttuivat",
        "sv": "Samarbetsnätverkets uppgifter ändrades",
        "en": "Shared catalogue (kimppa) updated",
    },
    "population-figures-loaded": {
        "fi": "Asukasluvut ladattu",
        "sv": "Invånarantal inlästa",
        "en": "Population figures loaded",
    },
    "agreement-version-published": {
        "fi": "Konsortiosopimuksen uusi versio",
        "sv": "Ny version av konsortieavtalet",
        "en": "Consortium agreement version published",
    },
    "agreement-version-accepted": {
        "fi": "Sopimusversio hyväksytty",
        "sv": "Avtalsversion godkänd",
        "en": "Agreement version accepted",
    },
    "contact-erased": {
        "fi": "Yhteyshenkilön tiedot poistettu",
        "sv": "Kontaktpersonens uppgifter raderade",
        "en": "Contact erased",
    },
    "token-revoked": {
        "fi": "Tunniste mitätöity",
        "sv": "Inloggningsnyckel återkallad",
        "en": "Token revoked",
    },
    "need-proposed": {
        "fi": "Hankintatarve ehdotettu",
        "sv": "Anskaffningsbehov föreslaget",
        "en": "Need proposed",
    },
    "interest-registered": {
        "fi": "Kiinnostus ilmoitettu",
        "sv": "Intresse anmält",
        "en": "Interest registered",
    },
    "tender-opened": {
        "fi": "Kilpailutus avattu",
        "sv": "Anbudsförfarande öppnat",
        "en": "Tender opened",
    },
    "tender-awarded": {
        "fi": "Kilpailutus ratkaistu",
        "sv": "Anbudsförfarande avgjort",
        "en": "Tender awarded",
    },
    "tender-cancelled": {
        "fi": "Kilpailutus peruttu",
        "sv": "Anbudsförfarande avbrutet",
        "en": "Tender cancelled",
    },
    "agreement-signed": {
        "fi": "Sopimus allekirjoitettu",
        "sv": "Avtal undertecknat",
        "en": "Agreement signed",
    },
    "agreement-ended": {"fi": "Sopimus päättyi", "sv": "Avtal upphörde", "en": "Agreement ended"},
    "agreement-joined": {
        "fi": "Liittyminen sopimukseen",
        "sv": "Anslutning till avtal",
        "en": "Agreement joined",
    },
    "agreement-left": {
        "fi": "Ero sopimuksesta",
        "sv": "Utträde ur avtal",
        "en": "Agreement left",
    },
    "titles-ingested": {
        "fi": "Nimekeluettelo ladattu",
        "sv": "Titellista inläst",
        "en": "Titles ingested",
    },
    "records-available": {
        "fi": "Tietueita saatavilla",
        "sv": "Poster tillgängliga",
        "en": "Records available",
    },
    "records-withdrawn": {
        "fi": "Tietueita poistettu",
        "sv": "Poster återkallade",
        "en": "Records withdrawn",
    },
    "message-delivered": {
        "fi": "Viestien toimitus",
        "sv": "Meddelandeleverans",
        "en": "Message delivery",
    },
    "campaign-sent": {"fi": "Kampanja lähetetty", "sv": "Kampanj skickad", "en": "Campaign sent"},
    "announcement-published": {
        "fi": "Tiedote julkaistu",
        "sv": "Meddelande publicerat",
        "en": "Announcement published",
    },
    "usage-digest-subscription-changed": {
        "fi": "Käyttökoosteen tilaus muuttui",
        "sv": "Prenumeration på användningssammandraget ändrad",
        "en": "Usage digest subscription changed",
    },
}

# Outreach's message kinds (services/outreach/domain.py KINDS).
MESSAGE_KINDS: dict[str, dict[Lang, str]] = {
    "welcome": {"fi": "tervetuloviesti", "sv": "välkomstmeddelande", "en": "welcome"},
    "announcement": {"fi": "tiedote", "sv": "meddelande", "en": "announcement"},
    "kit": {"fi": "markkinointipaketti", "sv": "marknadsföringspaket", "en": "marketing kit"},
    "invitation": {"fi": "kutsu", "sv": "inbjudan", "en": "invitation"},
    "notice": {"fi": "ilmoitus", "sv": "avisering", "en": "notice"},
    "campaign": {"fi": "kampanja", "sv": "kampanj", "en": "campaign"},
    "other": {"fi": "muu", "sv": "övrigt", "en": "other"},
}

# Each language's name in itself, for the language switch (never translated).
LANGUAGE_NAMES: dict[Lang, str] = {"fi": "Suomeksi", "sv": "På svenska", "en": "In English"}

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Finnish and Finland-Swedish share the number, date and time conventions of Finland.
NORDIC: tuple[Lang, ...] = ("fi", "sv")


def _lookup(table: Mapping[str, Mapping[Lang, str]], key: str, lang: Lang) -> str:
    entry = table.get(key)
    return entry[lang] if entry else key


def t(key: str, lang: Lang) -> str:
    return _lookup(TEXTS, key, lang)


def service_name(producer: str, lang: Lang) -> str:
    return _lookup(SERVICE_NAMES, producer, lang)


def event_name(name: str, lang: Lang) -> str:
    return _lookup(EVENT_NAMES, name, lang)


def message_kind(kind: str, lang: Lang) -> str:
    return _lookup(MESSAGE_KINDS, kind, lang)


def check_name(check: str, lang: Lang) -> str:
    return _lookup(CHECKS, check, lang)


def number(value: int | float, lang: Lang) -> str:
    grouped = f"{int(round(value)):,}"
    return grouped.replace(",", NBSP) if lang in NORDIC else grouped


def percent(fraction: float, lang: Lang, digits: int = 1) -> str:
    shown = f"{fraction * 100:.{digits}f}"
    return f"{shown.replace('.', ',')}{NBSP}%" if lang in NORDIC else f"{shown}%"


def euros(cents: int, lang: Lang) -> str:
    whole = number(round(cents / 100), lang)
    return f"{whole}{NBSP}€" if lang in NORDIC else f"€{whole}"


def cents(value: int, lang: Lang) -> str:
    """Euros to the cent (a cost per use): 0,42 € or €0.42."""
    whole, rest = divmod(abs(value), 100)
    sign = "-" if value < 0 else ""
    if lang in NORDIC:
        return f"{sign}{number(whole, lang)},{rest:02d}{NBSP}€"
    return f"{sign}€{number(whole, lang)}.{rest:02d}"


def date(value: dt.date, lang: Lang) -> str:
    if lang in NORDIC:
        return f"{value.day}.{value.month}.{value.year}"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def short_date(value: dt.date, lang: Lang) -> str:
    return (
        f"{value.day}.{value.month}."
        if lang in NORDIC
        else f"{value.day} {MONTHS_EN[value.month - 1]}"
    )


def time_of(moment: dt.datetime, lang: Lang) -> str:
    local = moment.astimezone(HELSINKI)
    if lang in NORDIC:
        return f"{local.day}.{local.month}. {local:%H.%M.%S}"
    return f"{local.day} {MONTHS_EN[local.month - 1]} {local:%H:%M:%S}"


# --- summaries of feed events ------------------------------------------------------------------

_SUMMARIES: dict[str, dict[Lang, str]] = {
    "member-joined": {
        "fi": "{name} liittyi jäseneksi ({population} asukasta)",
        "sv": "{name} anslöt sig som medlem ({population} invånare)",
        "en": "{name} joined ({population} residents)",
    },
    "member-updated": {
        "fi": "{name}: tiedot päivitetty",
        "sv": "{name}: uppgifterna uppdaterade",
        "en": "{name}: details updated",
    },
    "member-left": {
        "fi": "{name} erosi {effective_date}",
        "sv": "{name} utträdde {effective_date}",
        "en": "{name} left on {effective_date}",
    },
    "need-proposed": {
        "fi": "Uusi hankintatarve: {material_type}",
        "sv": "Nytt anskaffningsbehov: {material_type}",
        "en": "New need proposed: {material_type}",
    },
    "interest-registered": {
        "fi": "{isil} ilmoitti kiinnostuksensa",
        "sv": "{isil} anmälde intresse",
        "en": "{isil} registered interest",
    },
    "tender-opened": {
        "fi": "Kilpailutus avattu: {title}",
        "sv": "Anbudsförfarande öppnat: {title}",
        "en": "Tender opened: {title}",
    },
    "decision-corrected": {
        "fi": "Hankintapäätös oikaistu: {title} ({reason})",
        "sv": "Upphandlingsbeslut rättat: {title} ({reason})",
        "en": "Procurement decision corrected: {title} ({reason})",
    },
    "tender-awarded": {
        "fi": "Kilpailutus ratkaistu: {supplier_name} – {product}",
        "sv": "Anbudsförfarande avgjort: {supplier_name} – {product}",
        "en": "Tender awarded: {supplier_name} – {product}",
    },
    "tender-cancelled": {
        "fi": "Kilpailutus peruttu",
        "sv": "Anbudsförfarande avbrutet",
        "en": "Tender cancelled",
    },
    "agreement-signed": {
        "fi": "Sopimus allekirjoitettu: {title} ({supplier_name}, {annual_cost}/v)",
        "sv": "Avtal undertecknat: {title} ({supplier_name}, {annual_cost}/år)",
        "en": "Agreement signed: {title} ({supplier_name}, {annual_cost}/yr)",
    },
    "agreement-ended": {
        "fi": "Sopimus päättyi {effective_on}",
        "sv": "Avtalet upphörde {effective_on}",
        "en": "Agreement ended {effective_on}",
    },
    "agreement-joined": {
        "fi": "{isil} liittyi sopimukseen {title} (osallistujia nyt {participants})",
        "sv": "{isil} anslöt sig till avtalet {title} (deltagare nu {participants})",
        "en": "{isil} joined {title} (participants now: {participants})",
    },
    "agreement-left": {
        "fi": "{isil} erosi sopimuksesta (osallistujia nyt {participants})",
        "sv": "{isil} utträdde ur avtalet (deltagare nu {participants})",
        "en": "{isil} left the agreement (participants now: {participants})",
    },
    "titles-ingested": {
        "fi": "{collection_id}: {counts_accepted} uutta, {counts_rejected} hylättyä, "
        "{records_in_collection} tietuetta",
        "sv": "{collection_id}: {counts_accepted} nya, {counts_rejected} avvisade, "
        "{records_in_collection} poster",
        "en": "{collection_id}: {counts_accepted} new, {counts_rejected} rejected, "
        "{records_in_collection} records",
    },
    "records-available": {
        "fi": "{isil}: {count} tietuetta saatavilla ({title})",
        "sv": "{isil}: {count} poster tillgängliga ({title})",
        "en": "{isil}: {count} records available ({title})",
    },
    "records-withdrawn": {
        "fi": "{isil}: {count} tietuetta poistettu",
        "sv": "{isil}: {count} poster återkallade",
        "en": "{isil}: {count} records withdrawn",
    },
    "message-delivered": {
        "fi": "Viesti ({kind}) kirjastolle {isil}: {status}",
        "sv": "Meddelande ({kind}) till {isil}: {status}",
        "en": "Message ({kind}) to {isil}: {status}",
    },
    "campaign-sent": {
        "fi": "Kampanja {title}: {sent}/{recipients} lähetetty",
        "sv": "Kampanj {title}: {sent}/{recipients} skickade",
        "en": "Campaign {title}: {sent}/{recipients} sent",
    },
    "announcement-published": {
        "fi": "Tiedote julkaistu: {title}",
        "sv": "Meddelande publicerat: {title}",
        "en": "Announcement published: {title}",
    },
    "usage-digest-subscription-changed": {
        "fi": "{isil}: yhteyshenkilön käyttökooste tilattu: {subscribed}",
        "sv": "{isil}: kontaktens användningssammandrag prenumererat: {subscribed}",
        "en": "{isil}: a contact's usage digest subscribed: {subscribed}",
    },
}

# Richer lines for payloads that carry optional fields (added to the contracts later), and for
# the feed's grouped deliveries: used when every field they name is present, else the plain
# line above.
_RICHER: dict[str, dict[Lang, str]] = {
    "tender-awarded": {
        "fi": "Kilpailutus ratkaistu: {title} – {supplier_name}, {product}",
        "sv": "Anbudsförfarande avgjort: {title} – {supplier_name}, {product}",
        "en": "Tender awarded: {title} – {supplier_name}, {product}",
    },
    "tender-cancelled": {
        "fi": "Kilpailutus peruttu: {title}",
        "sv": "Anbudsförfarande avbrutet: {title}",
        "en": "Tender cancelled: {title}",
    },
    "agreement-ended": {
        "fi": "Sopimus {title} päättyi {effective_on}",
        "sv": "Avtalet {title} upphörde {effective_on}",
        "en": "Agreement {title} ended {effective_on}",
    },
    "message-delivered": {
        "fi": "Viestit ({kind}): {sent} lähetetty, {failed} epäonnistui",
        "sv": "Meddelanden ({kind}): {sent} skickade, {failed} misslyckades",
        "en": "Messages ({kind}): {sent} sent, {failed} failed",
    },
}

_STATUS: dict[str, dict[Lang, str]] = {
    "sent": {"fi": "lähetetty", "sv": "skickat", "en": "sent"},
    "failed": {"fi": "epäonnistui", "sv": "misslyckades", "en": "failed"},
}


class _Blank(dict[str, Any]):
    """Missing fields print as a dash, so a reshaped payload still gets a readable line."""

    def __missing__(self, key: str) -> str:
        return "–"


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def summary(name: str, details: Mapping[str, Any], lang: Lang) -> str:
    template = _SUMMARIES.get(name)
    if template is None:
        return event_name(name, lang)
    richer = _RICHER.get(name)
    if richer and _fields(richer[lang]) <= set(details):
        template = richer
    values = _Blank()
    for key, value in details.items():
        if isinstance(value, bool):
            values[key] = t("yes" if value else "no", lang)
        elif isinstance(value, int | float):
            values[key] = number(value, lang)
        else:
            values[key] = value
    names = details.get(f"library_names_{lang}") if lang != "fi" else None
    if names := names or details.get("library_names_fi"):
        values["name"] = names
    if "library_population" in details:
        values["population"] = number(details["library_population"], lang)
    if isinstance(details.get("annual_cost_cents"), int):
        values["annual_cost"] = euros(details["annual_cost_cents"], lang)
    for field in ("effective_date", "effective_on"):
        if isinstance(details.get(field), str) and len(details[field]) >= 10:
            try:
                values[field] = date(dt.date.fromisoformat(details[field][:10]), lang)
            except ValueError:
                pass
    status = details.get("status")
    if isinstance(status, str) and status in _STATUS:
        values["status"] = _STATUS[status][lang]
    if isinstance(details.get("kind"), str):
        values["kind"] = message_kind(details["kind"], lang)
    return template[lang].format_map(values)


class Formatter:
    """The formats and texts of one language, handed to the templates as ``f``."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.others: list[tuple[Lang, str]] = [
            (other, LANGUAGE_NAMES[other]) for other in LANGUAGES if other != lang
        ]

    def t(self, key: str) -> str:
        return t(key, self.lang)

    def number(self, value: int | float) -> str:
        return number(value, self.lang)

    def percent(self, fraction: float, digits: int = 1) -> str:
        return percent(fraction, self.lang, digits)

    def euros(self, cents: int) -> str:
        return euros(cents, self.lang)

    def cents(self, value: int) -> str:
        return cents(value, self.lang)

    def date(self, value: dt.date) -> str:
        return date(value, self.lang)

    def short_date(self, value: dt.date) -> str:
        return short_date(value, self.lang)

    def time(self, moment: dt.datetime) -> str:
        return time_of(moment, self.lang)

    def service(self, producer: str) -> str:
        return service_name(producer, self.lang)

    def event(self, name: str) -> str:
        return event_name(name, self.lang)

    def kind(self, kind: str) -> str:
        return message_kind(kind, self.lang)

    def check(self, check: str) -> str:
        return check_name(check, self.lang)

    def summary(self, name: str, details: Mapping[str, Any]) -> str:
        return summary(name, details, self.lang)


# The coming deadlines, the consortium agreement version's acceptance and the member surveys
# (``governance.py`` and ``_governance.html.j2``).
TEXTS.update(
    {
        "governance": {
            "fi": "Määräajat ja päätökset",
            "sv": "Tidsfrister och beslut",
            "en": "Deadlines and decisions",
        },
        "deadlines": {
            "fi": "Tulevat määräajat",
            "sv": "Kommande tidsfrister",
            "en": "Coming deadlines",
        },
        "deadline_kind": {"fi": "Määräaika", "sv": "Tidsfrist", "en": "Deadline"},
        "deadline_subject": {"fi": "Kohde", "sv": "Gäller", "en": "Concerns"},
        "deadline_cancellation": {
            "fi": "Sopimuksen irtisanominen",
            "sv": "Uppsägning av avtal",
            "en": "Agreement cancellation",
        },
        "deadline_standstill": {
            "fi": "Odotusajan päättyminen",
            "sv": "Väntetiden löper ut",
            "en": "Standstill ends",
        },
        "no_deadlines": {
            "fi": "Ei tulevia määräaikoja.",
            "sv": "Inga kommande tidsfrister.",
            "en": "No coming deadlines.",
        },
        "agreement_version": {
            "fi": "Konsortiosopimuksen hyväksyminen",
            "sv": "Godkännande av konsortieavtalet",
            "en": "Consortium agreement acceptance",
        },
        "agreement_version_current": {
            "fi": "Nykyinen versio",
            "sv": "Gällande version",
            "en": "Current version",
        },
        "valid_from": {"fi": "voimassa alkaen", "sv": "gäller från", "en": "valid from"},
        "accepted": {"fi": "hyväksynyt", "sv": "har godkänt", "en": "accepted"},
        "not_accepted": {
            "fi": "Ei vielä hyväksynyt",
            "sv": "Har ännu inte godkänt",
            "en": "Not accepted yet",
        },
        "all_accepted": {
            "fi": "Kaikki jäsenet ovat hyväksyneet.",
            "sv": "Alla medlemmar har godkänt.",
            "en": "Every member has accepted.",
        },
        "surveys": {"fi": "Jäsenkyselyt", "sv": "Medlemsenkäter", "en": "Member surveys"},
        "survey": {"fi": "Kysely", "sv": "Enkät", "en": "Survey"},
        "survey_status": {"fi": "Tila", "sv": "Status", "en": "Status"},
        "survey_open": {"fi": "avoinna", "sv": "öppen", "en": "open"},
        "survey_closed": {"fi": "suljettu", "sv": "stängd", "en": "closed"},
        "closes_on": {"fi": "Sulkeutuu", "sv": "Stängs", "en": "Closes"},
        "answers": {
            "fi": "Vastauksia / kysytty",
            "sv": "Svar / tillfrågade",
            "en": "Answers / asked",
        },
        "no_surveys": {"fi": "Ei kyselyitä.", "sv": "Inga enkäter.", "en": "No surveys."},
    }
)


# The member surveys' results page (``/surveys``, ``surveys.html.j2``).
TEXTS.update(
    {
        "nav_surveys": {"fi": "Kyselyt", "sv": "Enkäter", "en": "Surveys"},
        "survey_results": {
            "fi": "Jäsenkyselyiden tulokset",
            "sv": "Resultat av medlemsenkäterna",
            "en": "Member survey results",
        },
        "survey_results_intro": {
            "fi": "Vastausten määrät kysymyksittäin. Yksittäisten kirjastojen vastauksia ei "
            "näytetä.",
            "sv": "Antalet svar per fråga. Enskilda biblioteks svar visas inte.",
            "en": "The number of answers per question. No single library's answers are shown.",
        },
        "survey_answer": {"fi": "Vastaus", "sv": "Svar", "en": "Answer"},
        "survey_count": {"fi": "Kirjastoja", "sv": "Bibliotek", "en": "Libraries"},
        "survey_mean": {"fi": "Keskiarvo", "sv": "Medelvärde", "en": "Mean"},
        "survey_question_answered": {
            "fi": "Vastanneita tähän kysymykseen",
            "sv": "Svarat på denna fråga",
            "en": "Answered this question",
        },
        "survey_results_at_close": {
            "fi": "Tulokset julkaistaan, kun kysely sulkeutuu.",
            "sv": "Resultaten publiceras när enkäten stängs.",
            "en": "The results are published when the survey closes.",
        },
        "survey_no_results": {
            "fi": "Tälle kyselylle ei ole kysymyskohtaisia tuloksia.",
            "sv": "Det finns inga resultat per fråga för denna enkät.",
            "en": "There are no results per question for this survey.",
        },
        "survey_results_link": {
            "fi": "Kyselyiden tulokset",
            "sv": "Enkäternas resultat",
            "en": "Survey results",
        },
    }
)
