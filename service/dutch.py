"""The engine's problems with a rule text, in Dutch for the pages (the command line and the API speak English).

Each pattern is one message shape of the expression language (``rules.expr``, ``rules.checker``) and the
publish gate; a message no pattern knows is shown as the engine wrote it (tests keep the common ones covered).
"""
from __future__ import annotations

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


def in_dutch(message: str) -> str:
    """``message`` in Dutch when its shape is known, else as it is."""
    for pattern, say in _PATTERNS:
        match = pattern.match(message)
        said = say(match.groupdict()) if match else None
        if said:
            return said
    return message
