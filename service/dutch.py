"""The engine's problems with a rule text or a call's facts, in Dutch for the pages (the command line and the API
speak English).

Each pattern is one message shape of the expression language (``rules.expr``, ``rules.checker``), the publish
gate, the facts (``rules.load``, ``rules.validate``, ``rules.facts``) or the pages' own forms; a message no pattern
knows is shown as the engine wrote it (tests keep the common ones and the hostile corpus covered).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable

_KINDS = {"a number": "een getal", "numbers": "getallen", "a text": "een tekst", "texts": "teksten",
          "a string": "een tekst", "strings": "teksten", "an integer": "een geheel getal", "a date": "een datum", "dates": "datums", "a boolean": "een waar/onwaar-waarde",
          "booleans": "waar/onwaar-waarden", "a list": "een lijst", "lists": "lijsten", "null": "null",
          "the end of the expression": "het einde van de uitdrukking"}


def _kind(text: str) -> str:
    return _KINDS.get(text, text)


_NEEDS = {"a condition must be true or false": "een voorwaarde moet waar of onwaar zijn",
          "allocation cap must be a number": "het maximum moet een getal zijn",
          "a step's 'for' is a condition: it must be true or false":
              "de 'for' van een stap is een voorwaarde: die moet waar of onwaar zijn",
          "a reduction's amount must be a number": "het bedrag van een vermindering moet een getal zijn",
          "allocation weight must be a number": "het gewicht moet een getal zijn",
          "a ranking key must be a number, a text, a date or true/false":
              "een rangschikkingssleutel moet een getal, een tekst, een datum of waar/onwaar zijn"}


def _mean(name: str | None) -> str:
    return f", bedoelt u '{name}'?" if name else ""


_PATTERNS: list[tuple[re.Pattern, Callable[[dict], str]]] = [(re.compile(pattern), say) for pattern, say in (
    (r"^unknown parameter '(?P<a>[^']*)'(?: \(did you mean '(?P<b>[^']*)'\?\))?$",
     lambda g: f"onbekende parameter '{g['a']}'{_mean(g['b'])}"),
    (r"^unknown field '(?P<a>[^']*)' in '(?P<b>[^']*)'(?: \(did you mean '(?P<c>[^']*)'\?\))?$",
     lambda g: f"'{g['b']}' heeft geen veld '{g['a']}'{_mean(g['c'])}"),
    (r"^unknown field '(?P<a>[^']*)'(?: \(did you mean '(?P<b>[^']*)'\?\))?(?: \(readable here: (?P<c>.*)\))?$",
     lambda g: f"onbekend veld '{g['a']}'{_mean(g['b'])}" + (f" (hier leesbaar: {g['c']})" if g["c"] else "")),
    (r"^expected a value, found (?P<a>.*)$", lambda g: f"hier hoort een waarde, maar er staat {_kind(g['a'])}"),
    (r"^unexpected character '(?P<a>.*)'(?P<b>.*)$", lambda g: f"onverwacht teken '{g['a']}'{g['b']}"),
    (r"^unexpected (?P<a>.*)$", lambda g: f"onverwacht: {_kind(g['a'])}"),
    (r"^comparisons cannot be chained; join them with 'and'$",
     lambda g: "vergelijkingen kunnen niet aan elkaar geschakeld worden; verbind ze met 'and'"),
    (r"^expression is empty$", lambda g: "de uitdrukking is leeg"),
    (r"^cannot compare (?P<a>.*) with (?P<b>.*)$",
     lambda g: f"{_kind(g['a'])} kan niet vergeleken worden met {_kind(g['b'])}"),
    (r"^(?P<a>.*) needs numbers, not (?P<b>.*)$", lambda g: f"{g['a']} werkt met getallen, niet met {_kind(g['b'])}"),
    (r"^(?P<a>.*), this gives (?P<b>.*)$",
     lambda g: f"{_NEEDS[g['a']]}, dit geeft {_kind(g['b'])}" if g["a"] in _NEEDS else ""),
    (r"^expected a condition \(true or false\), found (?P<a>.*)$",
     lambda g: f"hier hoort een voorwaarde (waar of onwaar), maar dit geeft {_kind(g['a'])}"),
    (r"^unknown function '(?P<a>[^']*)'; the functions are (?P<b>.*)$",
     lambda g: f"onbekende functie '{g['a']}'; de functies zijn {g['b']}"),
    (r"^'(?P<a>[^']*)' says (?P<b>.*), but params\.(?P<c>\S+) is now (?P<d>[^:]*): .*\(\"(?P<e>.*)\"\)$",
     lambda g: f"'{g['a']}' noemt {g['b']}, maar params.{g['c']} is nu {g['d']}: een brief die deze tekst aanhaalt, "
               f"zou een cijfer noemen dat de beslissing niet gebruikte (\"{g['e']}\")"),
)]


_TYPES = {"an integer": "een geheel getal", "a number": "een getal", "a text": "een tekst",
          "a mapping": "een verzameling sleutels", "a list": "een lijst", "true or false": "waar of onwaar",
          "null": "null"}
_TYPE = "|".join(re.escape(word) for word in _TYPES)
_VALUE = {"a mapping": "een verzameling sleutels", "a list": "een lijst"}  # what was found; a literal stays as it is
_JSON = {"Expecting value": "hier hoort een waarde", "Expecting ',' delimiter": "hier hoort een komma",
         "Expecting ':' delimiter": "hier hoort een dubbele punt",
         "Expecting property name enclosed in double quotes": "hier hoort een sleutel tussen dubbele aanhalingstekens",
         "Extra data": "na het einde staat nog tekst",
         "Unterminated string starting at": "een tekst zonder afsluitend aanhalingsteken",
         "Invalid control character at": "een stuurteken in een tekst", "Invalid \\escape": "een ongeldige \\-reeks",
         "Invalid \\uXXXX escape": "een ongeldige \\u-reeks"}
_PATTERN_WORDS = {"a quarter such as 2016Q3": "moet een kwartaal zijn zoals 2016Q3",
                  "a lower-case name of letters, digits and _": "moet een naam zijn van kleine letters, cijfers en _",
                  "a lower-case id of letters, digits and -": "moet een id zijn van kleine letters, cijfers en -"}


def _found(text: str) -> str:
    return _VALUE.get(text, text)


def _dutch_number(text: str) -> str:
    return text.replace(",", ".")


# The facts' problems (``rules.validate``, ``rules.facts``, ``rules.load``): what a policy owner sees on the
# simulation and comparison pages when a call is refused.
_PATTERNS += [(re.compile(pattern), say) for pattern, say in (
    (rf"^must be (?P<a>(?:{_TYPE})(?: or (?:{_TYPE}))*), not (?P<b>.*)$",
     lambda g: f"moet {' of '.join(_TYPES[t] for t in g['a'].split(' or '))} zijn, niet {_found(g['b'])}"),
    (r"^must be one of (?P<a>.*), not (?P<b>'[^']*'|\S+)(?: \(did you mean '(?P<c>[^']*)'\?\))?$",
     lambda g: f"moet een van {g['a']} zijn, niet {g['b']}{_mean(g['c'])}"),
    (r"^must be (?P<a>>=|<=|>|<) (?P<b>\S+), not (?P<c>.*)$", lambda g: f"moet {g['a']} {g['b']} zijn, niet {g['c']}"),
    (r"^must be a date \(YYYY-MM-DD\), not (?P<a>.*)$", lambda g: f"moet een datum zijn (JJJJ-MM-DD), niet {g['a']}"),
    (r"^must be (?P<a>a quarter such as 2016Q3|a lower-case (?:name|id) of [^,]*), not (?P<b>.*)$",
     lambda g: f"{_PATTERN_WORDS[g['a']]}, niet {g['b']}" if g["a"] in _PATTERN_WORDS else ""),
    (r"^must not be empty$", lambda g: "mag niet leeg zijn"),
    (r"^must have at least (?P<a>\d+) items$", lambda g: f"moet minstens {g['a']} elementen hebben"),
    (r"^is too long \(at most (?P<a>\d+)\)$", lambda g: f"is te lang (hoogstens {g['a']})"),
    (r"^missing required key '(?P<a>[^']*)'$", lambda g: f"de verplichte sleutel '{g['a']}' ontbreekt"),
    (r"^unknown key '(?P<a>[^']*)'(?: \(did you mean '(?P<b>[^']*)'\?\))?; allowed here: (?P<c>.*)$",
     lambda g: f"onbekende sleutel '{g['a']}'{_mean(g['b'])}; hier toegestaan: {g['c']}"),
    (r"^duplicate applicant id (?P<a>'.*') \(first at (?P<b>applicants\[\d+\])\)$",
     lambda g: f"aanvrager-id {g['a']} komt twee keer voor (eerst bij {g['b']})"),
    (r"^applicant id (?P<a>.*) looks the same as (?P<b>.*) \(first at (?P<c>applicants\[\d+\])\)$",
     lambda g: f"aanvrager-id {g['a']} ziet er hetzelfde uit als {g['b']} (eerst bij {g['c']})"),
    (r"^applicant id (?P<a>.*) contains (?P<b>.*): an id is what people read and type, so it may hold no invisible "
     r"or control character$",
     lambda g: f"aanvrager-id {g['a']} bevat {g['b']}: een id wordt gelezen en getypt, er mag dus geen onzichtbaar "
               "teken of stuurteken in staan"),
    (r"^(?P<a>'.*') is given twice \(first at (?P<b>\S+)\): each (?P<c>\S+) once$",
     lambda g: f"{g['a']} staat er twee keer (eerst bij {g['b']}): elke waarde van '{g['c']}' één keer"),
    (r"^no entry for (?P<a>'.*') under regions$", lambda g: f"geen gegevens voor {g['a']} onder regions"),
    (r"^this ruleset splits the budget over regions: the facts need 'regions:' with '(?P<a>[^']*)' per region$",
     lambda g: f"deze regelset verdeelt het budget over de regio's: de aanvragen moeten 'regions:' hebben, met "
               f"'{g['a']}' per regio"),
    (r"^not a date this engine can use \(YYYY-MM-DD, years 0001 to 9999\)$",
     lambda g: "geen datum die deze engine kan gebruiken (JJJJ-MM-DD, jaren 0001 tot 9999)"),
    (r"^JSON syntax: (?P<a>.*)$", lambda g: f"JSON-syntaxis: {_JSON[g['a']]}" if g["a"] in _JSON else ""),
    (r"^duplicate key '(?P<a>[^']*)'$", lambda g: f"de sleutel '{g['a']}' staat er twee keer"),
    (r"^a facts file must be a mapping with an 'applicants' list$",
     lambda g: "een bestand met aanvragen moet een verzameling sleutels zijn, met een lijst 'applicants'"),
    (r"^'(?P<a>[^']*)' is not a number this engine accepts$", lambda g: f"'{g['a']}' is geen getal dat deze engine aanvaardt"),
    (r"^'(?P<a>[^']*)' is not a number$", lambda g: f"'{g['a']}' is geen getal"),
    (r"^number '(?P<a>[^']*)' is not finite$", lambda g: f"het getal '{g['a']}' is niet eindig"),
    (r"^number '(?P<a>[^']*)' is too large: numbers may have at most (?P<b>\d+) significant digits, (?P<c>\d+) digits "
     r"before the decimal point and (?P<d>\d+) after it$",
     lambda g: f"het getal '{g['a']}' is te groot: een getal heeft hoogstens {g['b']} beduidende cijfers, {g['c']} voor "
               f"de komma en {g['d']} erna"),
    (r"^number '(?P<a>[^']*)' has too many decimals: numbers may have at most (?P<b>\d+) significant digits, "
     r"(?P<c>\d+) digits before the decimal point and (?P<d>\d+) after it$",
     lambda g: f"het getal '{g['a']}' heeft te veel decimalen: een getal heeft hoogstens {g['b']} beduidende cijfers, "
               f"{g['c']} voor de komma en {g['d']} erna"),
    (r"^nesting is too deep \(more than (?P<a>\d+) levels\)$",
     lambda g: f"de gegevens zijn te diep genest (meer dan {g['a']} niveaus)"),
    (r"^anchors and aliases \(&name, \*name\) are not allowed$",
     lambda g: "ankers en verwijzingen (&naam, *naam) zijn niet toegestaan"),
    (r"^merge keys \(<<\) are not allowed: write the keys out$",
     lambda g: "samenvoegsleutels (<<) zijn niet toegestaan: schrijf de sleutels uit"),
    (r"^the YAML tag '(?P<a>.*)' is not allowed: rule and facts files hold plain data \(mappings, lists, text, "
     r"numbers, true/false, null and dates\)$",
     lambda g: f"de YAML-tag '{g['a']}' is niet toegestaan: regel- en aanvraagbestanden bevatten gewone gegevens "
               "(verzamelingen sleutels, lijsten, tekst, getallen, true/false, null en datums)"),
    (r"^binary data \(NUL byte\): not a text file$", lambda g: "binaire gegevens (NUL-byte): geen tekstbestand"),
    (r"^not valid UTF-8 text \(byte (?P<a>0x[0-9a-f]{2})\)$", lambda g: f"geen geldige UTF-8-tekst (byte {g['a']})"),
    (r"^text holds a lone surrogate code point \(\\ud800 to \\udfff\): not valid Unicode text$",
     lambda g: "de tekst bevat een los surrogaat (\\ud800 tot \\udfff): geen geldige Unicode-tekst"),
    (r"^a key holds a lone surrogate code point \(\\ud800 to \\udfff\): not valid Unicode text$",
     lambda g: "een sleutel bevat een los surrogaat (\\ud800 tot \\udfff): geen geldige Unicode-tekst"),
    (r"^file is empty$", lambda g: "het bestand is leeg"),
    (r"^the file is over the size limit$", lambda g: "het bestand is groter dan toegestaan"),
    (r"^(?P<a>[\d,]+) applicants, over the limit of (?P<b>[\d,]+) a call \(RULES_MAX_APPLICANTS, set by whoever "
     r"runs the engine\)$",
     lambda g: f"{_dutch_number(g['a'])} aanvragen, meer dan de grens van {_dutch_number(g['b'])} per oproep "
               "(RULES_MAX_APPLICANTS, ingesteld door wie de engine beheert)"),
    (r"^decision (?P<a>\d+) has (?P<b>[\d,]+) letters; one PDF holds at most (?P<c>[\d,]+) \(RULES_MAX_LETTERS\): ask "
     r"for them by applicant$",
     lambda g: f"beslissing {g['a']} heeft {_dutch_number(g['b'])} brieven; één PDF bevat er ten hoogste "
               f"{_dutch_number(g['c'])} (RULES_MAX_LETTERS): vraag ze per aanvrager op"),
    (r"^(?P<a>[\d,]+) letters asked for; one PDF holds at most (?P<b>[\d,]+) \(RULES_MAX_LETTERS\): ask for fewer$",
     lambda g: f"{_dutch_number(g['a'])} brieven gevraagd; één PDF bevat er ten hoogste {_dutch_number(g['b'])} "
               "(RULES_MAX_LETTERS): vraag er minder"),
)]


# The pages' own forms (``service.web``).
_PATTERNS += [(re.compile(pattern), say) for pattern, say in (
    (r"^upload a facts file or pick an example$", lambda g: "laad een bestand met aanvragen op, of kies een voorbeeld"),
    (r"^'(?P<a>.*)' is not a date \(YYYY-MM-DD\)$", lambda g: f"'{g['a']}' is geen datum (JJJJ-MM-DD)"),
    (r"^write NAME=VALUE, not '(?P<a>.*)'$", lambda g: f"schrijf NAAM=WAARDE, niet '{g['a']}'"),
    (r"^paste the draft rule text, or pick a version$", lambda g: "plak de ontwerptekst, of kies een versie"),
    (r"^pick a logged official call, or upload a facts file$",
     lambda g: "kies een vastgelegde officiële oproep, of laad een bestand met aanvragen op"),
    (r"^ruleset '(?P<a>[^']*)' has no version (?P<b>\S+); versions: (?P<c>.*)$",
     lambda g: f"regelset '{g['a']}' heeft geen versie {g['b']}; versies: {g['c']}"),
    (r"^no version of '(?P<a>[^']*)' is in force on (?P<b>\S+); versions: (?P<c>.*)$",
     lambda g: f"geen versie van '{g['a']}' is van kracht op {g['b']}; versies: "
               + _periods(g["c"])),
    (r"^no published version of (?P<a>\S+) to compare with$",
     lambda g: f"geen gepubliceerde versie van {g['a']} om mee te vergelijken"),
)]


# The drafts' way to publication (``policy.drafts``, ``record.drafts``).
_PATTERNS += [(re.compile(pattern), say) for pattern, say in (
    (r"^the text is of '(?P<a>[^']*)', not of '(?P<b>[^']*)'$",
     lambda g: f"de tekst is van '{g['a']}', niet van '{g['b']}'"),
    (r"^(?P<a>\S+) is published already: a change is a new version$",
     lambda g: f"{g['a']} is al gepubliceerd: een wijziging is een nieuwe versie"),
    (r"^the text says (?P<a>\S+): a draft keeps its id and version \(start a new draft for another version\)$",
     lambda g: f"de tekst zegt {g['a']}: een ontwerp houdt zijn id en versie (begin een nieuw ontwerp voor een "
               "andere versie)"),
    (r"^a submission needs its reason$", lambda g: "een indiening heeft een reden nodig"),
    (r"^draft (?P<a>\S+) is not submitted: only a submitted text is approved or published$",
     lambda g: f"ontwerp {g['a']} is niet ingediend: alleen een ingediende tekst wordt goedgekeurd of gepubliceerd"),
    (r"^draft (?P<a>\S+) is not submitted$", lambda g: f"ontwerp {g['a']} is niet ingediend"),
    (r"^(?P<a>.+) wrote draft (?P<b>\S+): an author never approves their own text$",
     lambda g: f"{g['a']} schreef ontwerp {g['b']}: een auteur keurt nooit de eigen tekst goed"),
    (r"^draft (?P<a>\S+) has (?P<b>\d+) approval\(s\) of its submitted text by others than its author "
     r"\((?P<c>.*)\); publishing needs (?P<d>\d+)$",
     lambda g: f"ontwerp {g['a']} heeft {g['b']} goedkeuring(en) van de ingediende tekst door anderen dan de auteur "
               f"({g['c']}); publiceren vraagt er {g['d']}"),
    (r"^draft (?P<a>\S+) is submitted: it is approved or sent back, not edited$",
     lambda g: f"ontwerp {g['a']} is ingediend: het wordt goedgekeurd of teruggestuurd, niet bewerkt"),
    (r"^no draft (?P<a>\S+)$", lambda g: f"geen ontwerp {g['a']}"),
    (r"^draft (?P<a>\S+) was saved since \(it is now (?P<b>\S+)\); load it again and redo the edit$",
     lambda g: f"ontwerp {g['a']} werd intussen bewaard (het is nu {g['b']}); laad het opnieuw en doe de wijziging "
               "opnieuw"),
    (r"^draft (?P<a>\S+) was saved meanwhile; load it again and redo the edit$",
     lambda g: f"ontwerp {g['a']} werd intussen bewaard; laad het opnieuw en doe de wijziging opnieuw"),
)]


def _periods(text: str) -> str:
    """'2018.1 from 2018-06-15 to 2018-12-31; 2019.1 from 2019-01-01, with no end' in Dutch."""
    return text.replace(" from ", " van ").replace(" to ", " tot ").replace(", with no end", ", zonder einde")


def error_text(exc: Exception, lang: str) -> str:
    """An error as a page shows it: each problem at its place, its message in Dutch on a Dutch page where its shape
    is known (an unknown shape stays as the engine wrote it)."""
    problems = getattr(exc, "problems", None)
    if lang != "nl":
        return str(exc)
    if not problems:
        return "\n".join(in_dutch(line) for line in str(exc).splitlines())
    return "\n".join(str(dataclasses.replace(p, message=in_dutch(p.message))) for p in problems)


def in_dutch(message: str) -> str:
    """``message`` in Dutch when its shape is known, else as it is."""
    for pattern, say in _PATTERNS:
        match = pattern.match(message)
        said = say(match.groupdict()) if match else None
        if said:
            return said
    return message
