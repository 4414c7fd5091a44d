"""The statement of reasons as a letter an applicant can read (Dutch by default, English on request).

Where ``explain`` writes for auditors (conditions, values, exact fractions), this writes for the
applicant: the rules in the policy owner's words, the policy sentences they rest on, the
applicant's own figures with Dutch number formatting (Babel), what is missing from a list the
rules needed, and for a failed rule its ``reason:``. No parameter names, no code, no fractions.
"""
from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .compile import Ruleset
from .explain import _find

LOCALES = {"nl": "nl_BE", "en": "en_GB"}

WORDS = {
    "nl": {
        "title": "Motivering van de beslissing over uw aanvraag",
        "intro": "Deze brief legt uit hoe over de aanvraag van {name} ({id}) beslist werd in de ronde "
                 "'{title}' (versie {version}), volgens de regels die golden op {as_of}.",
        "decision": "Beslissing {id}.",
        "eligibility": "1. Komt u in aanmerking?",
        "eligible": "Ja. U voldoet aan elke voorwaarde:",
        "ineligible": "Nee. U voldoet niet aan elke voorwaarde:",
        "met": "voldaan", "not_met": "niet voldaan",
        "figures": "Uw gegevens: {figures}.",
        "missing": "Er ontbreekt: {items}.",
        "reason": "Waarom niet: {reason}",
        "quote": "De regel steunt op: \u201c{source}\u201d",
        "priority": "2. Voorrang",
        "tier": "U valt in voorrangsgroep {tier}: {description}.",
        "ranking": "3. Uw plaats in de rangschikking",
        "rank": "U staat op plaats {rank} van de {count} aanvragers die in aanmerking komen. De volgorde is "
                "bepaald door: {keys}.",
        "allocation": "{number}. Wat u krijgt",
        "granted": "U krijgt {allocated} VTE bij, van de {requested} VTE die u vroeg.",
        "nothing": "U krijgt geen bijkomende VTE.",
        "nothing_left": "Het budget was op voor de aanvragers die voor u gerangschikt waren.",
        "reduced": "Uw contingent wordt verminderd met {reduced} VTE; samen met wat u krijgt, verandert het met "
                   "{change} VTE.",
        "method": "Hoe verdeeld werd: {description}",
        "capped": "U kreeg het maximum waarop u recht had ({cap} VTE).",
        "high_first": "hoogste eerst", "low_first": "laagste eerst",
        "closing": "Deze beslissing is vastgelegd in het beslissingsregister en kan op elk moment opnieuw "
                   "berekend en nagekeken worden.",
        "tier_word": "voorrangsgroep", "lottery": "loting", "id": "dossiernummer",
    },
    "en": {
        "title": "Statement of reasons for the decision on your application",
        "intro": "This letter explains how the application of {name} ({id}) was decided in the round "
                 "'{title}' (version {version}), under the rules in force on {as_of}.",
        "decision": "Decision {id}.",
        "eligibility": "1. Are you eligible?",
        "eligible": "Yes. You meet every condition:",
        "ineligible": "No. You do not meet every condition:",
        "met": "met", "not_met": "not met",
        "figures": "Your figures: {figures}.",
        "missing": "Missing: {items}.",
        "reason": "Why not: {reason}",
        "quote": "The rule rests on: \u201c{source}\u201d",
        "priority": "2. Priority",
        "tier": "You are in priority group {tier}: {description}.",
        "ranking": "3. Your place in the ranking",
        "rank": "You are ranked {rank} of the {count} eligible applicants. The order is set by: {keys}.",
        "allocation": "{number}. What you receive",
        "granted": "You receive {allocated} FTE more, of the {requested} FTE you asked for.",
        "nothing": "You receive no additional FTE.",
        "nothing_left": "The budget was used up by the applicants ranked before you.",
        "reduced": "Your contingent is reduced by {reduced} FTE; with what you receive, it changes by {change} FTE.",
        "method": "How it was shared: {description}",
        "capped": "You received the maximum you were entitled to ({cap} FTE).",
        "high_first": "highest first", "low_first": "lowest first",
        "closing": "This decision is kept in the decision log and can be recomputed and checked at any time.",
        "tier_word": "priority group", "lottery": "lottery", "id": "file number",
    },
}


def letter(record: dict, ruleset: Ruleset, applicant: str, lang: str = "nl", facts: dict | None = None) -> dict:
    """The letter to one applicant, as sections of paragraphs (``explain``'s shape, for the same renderers)."""
    w = WORDS[lang]
    decision = _find(record, applicant)
    fmt = Formatter(lang, ruleset)
    head = [w["intro"].format(name=decision.get("name") or decision["id"], id=decision["id"],
                              title=record["ruleset"]["title"], version=record["ruleset"]["version"],
                              as_of=fmt.date(dt.date.fromisoformat(record["as_of"]))),
            w["decision"].format(id=record["decision_id"][:16])]
    sections = [{"title": w["title"], "lines": head}, _eligibility(decision, ruleset, fmt, w, facts)]
    number = 2
    if decision["eligible"]:
        sections += [_priority(decision, ruleset, w), _ranking(record, decision, ruleset, w)]
        number = 4
    sections.append(_allocation(record, decision, ruleset, fmt, w, number))
    sections.append({"title": "", "lines": [w["closing"]]})
    return {"decision_id": record["decision_id"], "applicant": decision["id"], "language": lang, "for": "applicant",
            "sections": sections}


class Formatter:
    """Numbers, rates and dates as a reader of ``lang`` writes them."""

    def __init__(self, lang: str, ruleset: Ruleset):
        self.locale = LOCALES[lang]
        self.ruleset = ruleset

    def number(self, value: Any) -> str:
        from babel.numbers import format_decimal

        exact = _exact(value)
        if isinstance(exact, Fraction):  # no fraction in a letter: four decimals are plenty
            exact = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.0001"))
        return format_decimal(exact, format="#,##0.##########", locale=self.locale)

    def rate(self, value: Any) -> str:
        from babel.numbers import format_percent

        exact = _exact(value)
        ratio = Decimal(exact.numerator) / Decimal(exact.denominator) if isinstance(exact, Fraction) else Decimal(exact)
        return format_percent(ratio, "#,##0.00 %", locale=self.locale)

    def date(self, value: dt.date) -> str:
        from babel.dates import format_date

        return format_date(value, "long", locale=self.locale)

    def value(self, name: str, value: Any) -> str:
        if value is None:
            return "\u2013"
        if isinstance(value, bool):
            return {"nl_BE": "ja" if value else "nee"}.get(self.locale, "yes" if value else "no")
        if isinstance(value, dt.date):
            return self.date(value)
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            try:
                return self.date(dt.date.fromisoformat(value))
            except ValueError:
                return value
        if name.endswith("_rate") and _exact(value) is not None:
            return self.rate(value)
        if isinstance(value, (int, Decimal, Fraction, dict)) or _is_fraction_text(value):
            return self.number(value)
        if isinstance(value, list):
            return ", ".join(self.value(name, v) for v in value)
        return str(value)


def _is_fraction_text(value: Any) -> bool:
    return isinstance(value, str) and "/" in value and value.replace("/", "").lstrip("-").isdigit()


def _exact(value: Any) -> Any:
    if isinstance(value, dict) and {"numerator", "denominator"} <= set(value):  # format 2's fraction
        return Fraction(int(value["numerator"]), int(value["denominator"]))
    if _is_fraction_text(value):
        numerator, denominator = map(int, value.split("/"))
        return Fraction(numerator, denominator)
    if isinstance(value, (int, Decimal, Fraction)) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return None


def label(ruleset: Ruleset, name: str) -> str:
    """What a value is called for the reader: a derived value's description, a field's title, else its name."""
    for derived in ruleset.derived:
        if derived.name == name:
            return _first_clause(derived.description)
    schema: Any = {"properties": ruleset.applicant_fields}
    for part in name.split("."):
        schema = (schema.get("properties") or {}).get(part) if isinstance(schema, dict) else None
    if isinstance(schema, dict) and (schema.get("title") or schema.get("description")):
        return _first_clause(schema.get("title") or schema["description"])
    return name.split(".")[-1].replace("_", " ")


def _first_clause(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].lower() + text[1:].rstrip(".") if text[:2] != text[:2].upper() else text.rstrip(".")


def _figures(check: dict, ruleset: Ruleset, fmt: Formatter) -> list[str]:
    return [f"{label(ruleset, name)}: {fmt.value(name, value)}" for name, value in check["values"].items()
            if not name.startswith("params.") and name != "as_of"]


def _missing(check: dict, ruleset: Ruleset, facts: dict | None) -> list[str]:
    """Items of a list parameter the rule read that the applicant's own list lacks (e.g. a quarter)."""
    if not facts or check["passed"]:
        return []
    missing: list = []
    for name in check["values"]:
        if not name.startswith("params."):
            continue
        wanted = ruleset.params.get(name.split(".", 1)[1])
        if not isinstance(wanted, list):
            continue
        for value in facts.values():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for key in value[0]:
                    have = {str(item.get(key)) for item in value if isinstance(item, dict)}
                    if have & {str(x) for x in wanted}:
                        missing += [str(x) for x in wanted if str(x) not in have]
    return list(dict.fromkeys(missing))


def _eligibility(decision: dict, ruleset: Ruleset, fmt: Formatter, w: dict, facts: dict | None) -> dict:
    lines = [w["eligible"] if decision["eligible"] else w["ineligible"]]
    for check in decision["reasons"]:
        rule = ruleset.rule(check["rule"])
        if rule is None:
            continue
        lines.append(f"- {rule.description.rstrip('.')}: {w['met'] if check['passed'] else w['not_met']}.")
        figures = _figures(check, ruleset, fmt)
        if figures:
            lines.append("  " + w["figures"].format(figures="; ".join(figures)))
        missing = _missing(check, ruleset, facts)
        if missing:
            lines.append("  " + w["missing"].format(items=", ".join(missing)))
        if not check["passed"] and rule.reason:
            lines.append("  " + w["reason"].format(reason=" ".join(rule.reason.split())))
        if rule.source and not check["passed"]:
            lines.append("  " + w["quote"].format(source=" ".join(rule.source.split())))
    return {"title": w["eligibility"], "lines": lines}


def _priority(decision: dict, ruleset: Ruleset, w: dict) -> dict:
    rule = ruleset.rule(decision["tier_rule"]) if decision.get("tier_rule") else None
    description = rule.description.rstrip(".") if rule else ""
    lines = [w["tier"].format(tier=decision["tier"], description=description[:1].lower() + description[1:])]
    if rule is not None and rule.source:
        lines.append(w["quote"].format(source=" ".join(rule.source.split())))
    return {"title": w["priority"], "lines": lines}


def _ranking(record: dict, decision: dict, ruleset: Ruleset, w: dict) -> dict:
    keys = []
    for key in ruleset.ranking:
        name = key.text
        if name == "tier":
            words = w["tier_word"]
        elif name.startswith("lottery("):
            words = w["lottery"]
        elif name == "id":
            words = w["id"]
        else:
            words = label(ruleset, name)
        order = w["high_first"] if key.descending else w["low_first"]
        keys.append(f"{words} ({order})" if name not in ("id",) and not name.startswith("lottery(") else words)
    return {"title": w["ranking"], "lines": [w["rank"].format(rank=decision["rank"], count=record["eligible"],
                                                              keys="; ".join(keys))]}


def _allocation(record: dict, decision: dict, ruleset: Ruleset, fmt: Formatter, w: dict, number: int) -> dict:
    lines = []
    allocated = decision["allocated_fte"]
    if allocated:
        lines.append(w["granted"].format(allocated=fmt.number(allocated), requested=fmt.number(decision["requested_fte"])))
    else:
        lines.append(w["nothing"])
        if decision["eligible"] and not decision.get("reduced_fte") and record["unallocated_fte"] == 0:
            lines.append(w["nothing_left"])
    if decision.get("reduced_fte"):
        lines.append(w["reduced"].format(reduced=fmt.number(decision["reduced_fte"]), change=fmt.number(decision["change_fte"])))
    trace = decision.get("allocation") or {}
    if trace.get("capped") and allocated and trace.get("cap_fte") is not None \
            and Decimal(str(trace["cap_fte"])) != Decimal(str(decision["requested_fte"])):
        lines.append(w["capped"].format(cap=fmt.number(trace["cap_fte"])))
    if decision["eligible"] and ruleset.allocation.description:
        lines.append(w["method"].format(description=" ".join(ruleset.allocation.description.split())))
    return {"title": w["allocation"].format(number=number), "lines": lines}


def as_letter_text(result: dict, width: int = 80) -> str:
    """The letter as wrapped text; list items keep their hanging indent."""
    out = []
    for section in result["sections"]:
        if section["title"]:
            out += [section["title"], ""]
        for line in section["lines"]:
            indent = "  " if line.startswith("  ") else ("  " if line.startswith("- ") else "")
            first = "" if not line.startswith("  ") else "  "
            out += textwrap.wrap(line.strip(), width=width, initial_indent=first, subsequent_indent=indent,
                                 break_on_hyphens=False) or [""]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
