"""Figures stated in the texts a letter quotes, against the parameters those texts are about.

A condition's description ("minstens 95% ingevuld") is quoted in every letter; when the parameter it reads
becomes 0.90 and the text stays, the letter states a false reason. ``stale_figures`` finds such texts: a text
of a rule, a derived value or a parameter that states a value its parameters no longer have (against the version
replaced), or only some of the values a dated parameter takes.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

from ..errors import Location
from ..rules import expr as E
from ..rules.compile import Ruleset
from .findings import Finding

# a number as people write one in a text, with a decimal point or comma, maybe a percentage; not part of a word
_NUMBER = re.compile(r"(?<![\w.,])([0-9]+(?:[.,][0-9]+)?)(?![\w])(\s*(?:%|procent\b|percent\b))?", re.I)


def quoted_numbers(text: str) -> set[str]:
    """The numbers a text states, as exact decimals (a percentage as its hundredth): '95%' -> '0.95'."""
    found = set()
    for match in _NUMBER.finditer(text):
        value = Decimal(match.group(1).replace(",", "."))
        found.add(_plain(value / 100 if match.group(2) else value))
    return found


def stale_figures(old: Ruleset | None, new: Ruleset) -> list[Finding]:
    """The texts of ``new`` that state a parameter's value that ``old`` had and ``new`` has not, or one of the
    values of a dated parameter and not the others."""
    findings = []
    for location, subject, texts, params in _texts(new):
        for name in sorted(params):
            now = _values(new.parameters[name])
            before = _values(old.parameters[name]) if old and name in old.parameters else now
            finding = _stale(texts, now, before, name, _raw(new.parameters[name]))
            if finding:
                findings.append(Finding(location, "stale-figure", subject, f"'{subject}' says {finding}"))
                break
    return findings


def _stale(texts: list[str], now: dict, before: dict, name: str, raw: dict) -> str | None:
    for text in texts:
        stated = quoted_numbers(text)
        gone = [v for v in before.values() if v in stated and v not in now.values()]
        if gone and not stated & set(now.values()):
            shown = _shown(text, gone[0])
            return (f"{shown}, but params.{name} is now {_listed(raw)}: a letter quoting it would state a figure "
                    f"the decision did not use (\"{' '.join(text.split())}\")")
        partial = [d for d, v in now.items() if v not in stated]
        if len(set(now.values())) > 1 and stated & set(now.values()) and partial:
            shown = _shown(text, next(v for v in now.values() if v in stated))
            return (f"{shown}, but params.{name} is {_listed(raw)}: from {partial[0]} the text is wrong "
                    f"(\"{' '.join(text.split())}\")")
    return None


def _texts(ruleset: Ruleset) -> Iterator[tuple[Location, str, list[str], set]]:
    """Each text a reader is shown, with the parameters it is about (its condition's, through derived values)."""
    derived = {d.name: d for d in ruleset.derived}
    for rule in ruleset.eligibility + ruleset.tiers:
        texts = _with_translations(ruleset, [rule.description, rule.reason])
        yield rule.location, rule.id, texts, _params(rule.condition, derived, ruleset)
    for item in ruleset.derived:
        yield item.location, item.name, _with_translations(ruleset, [item.description]), _params(item.expr, derived,
                                                                                                 ruleset)
    for name, parameter in ruleset.parameters.items():
        if _values(parameter):
            yield parameter.location, f"params.{name}", _with_translations(ruleset, [parameter.description]), {name}


def _params(tree: Any, derived: dict, ruleset: Ruleset, seen: frozenset = frozenset()) -> set:
    """Numeric parameters a tree reads, also through the derived values it reads."""
    found: set = set()
    for node in E.walk(tree):
        if not isinstance(node, E.Name):
            continue
        if node.binding == "params" and node.path[1] in ruleset.parameters and _values(ruleset.parameters[node.path[1]]):
            found.add(node.path[1])
        elif node.binding == "env" and node.dotted in derived and node.dotted not in seen:
            found |= _params(derived[node.dotted].expr, derived, ruleset, seen | {node.dotted})
    return found


def _with_translations(ruleset: Ruleset, texts: list[str]) -> list[str]:
    out = [t for t in texts if t]
    return out + [other for t in out for other in ruleset.translations.get(t, {}).values()]


def _values(parameter: Any) -> dict:
    """{from date or '': the value as an exact decimal} of a numeric parameter; {} for lists, texts, dates."""
    pairs = parameter.values or (("", parameter.value),)
    out = {}
    for since, value in pairs:
        number = _number(value)
        if number is None:
            return {}
        out[str(since)] = number
    return out


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        return _plain(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _shown(text: str, value: str) -> str:
    for match in _NUMBER.finditer(text):
        number = Decimal(match.group(1).replace(",", "."))
        if _plain(number / 100 if match.group(2) else number) == value:
            return match.group(0).strip()
    return value


def _raw(parameter: Any) -> dict:
    """{from date or '': the value as the rule file writes it}."""
    pairs = parameter.values or (("", parameter.value),)
    return {str(since): str(value) for since, value in pairs}


def _listed(values: dict) -> str:
    if list(values) == [""]:
        return values[""]
    return ", ".join(f"{v} from {d}" for d, v in values.items())
