"""The statement of reasons as a letter an applicant can read (Dutch by default, English on request).

Where ``explain`` writes for auditors (conditions, values, exact fractions), this writes for the
applicant: the rules in the policy owner's words, the policy sentences they rest on, the
applicant's own figures with Dutch number formatting (Babel), what is missing from a list the
rules needed, and for a failed rule its ``reason:``. No parameter names, no code, no fractions.
"""
from __future__ import annotations

import datetime as dt
import re
import textwrap
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, Callable

from ..rules import expr as E
from ..rules.compile import Ruleset
from .explain import _find
from .rounding import ALL as _ALL, NONE as _NONE, on_its_side

LOCALES = {"nl": "nl_BE", "en": "en_GB"}

WORDS = {
    "nl": {
        "title": "Motivering van de beslissing over uw aanvraag",
        "intro": "Deze brief legt uit hoe over de aanvraag van {name} ({id}) beslist werd in de ronde "
                 "'{title}' (versie {version}), volgens de regels die golden op {as_of}.",
        "decision": "Beslissing {id}.",
        "merged": "Samen met uw aanvraag werd die van {members} beoordeeld, omdat die met u samengevoegd werd: "
                  "uw cijfers zijn samengeteld ({fields}), en u vroeg voor allen samen.",
        "and": "en",
        "member": "Uw aanvraag ({member}) werd samengevoegd met die van {head}, en samen met die aanvraag beoordeeld: "
                  "deze beslissing geldt voor beide.",
        "eligibility": "1. Komt u in aanmerking?",
        "eligible": "Ja. U voldoet aan elke voorwaarde:",
        "ineligible": "Nee. U voldoet niet aan elke voorwaarde:",
        "met": "voldaan", "not_met": "niet voldaan",
        "facts_problem": "Uw aanvraag kon niet beoordeeld worden: dit gegeven ontbreekt of is ongeldig: {field}.",
        "figures": "Uw gegevens: {figures}.",
        "missing": "Er ontbreekt: {items}.",
        "reason": "Waarom niet: {reason}",
        "quote": "De regel steunt op: \u201c{source}\u201d",
        "priority": "2. Voorrang",
        "tier": "U valt in voorrangsgroep {tier}: {description}.",
        "ranking": "3. Uw plaats in de rangschikking",
        "rank": "U staat op plaats {rank} van de {count} aanvragers die in aanmerking komen. De volgorde is "
                "bepaald door: {keys}.",
        "tie": "U stond gelijk met {others} op: {keys}. Daarna besliste {last} ({order}): {draws}.",
        "draw": "{id} {value}", "draw_lottery": "de loting", "draw_id": "het dossiernummer", "and_more": "en {n} andere",
        "allocation": "{number}. Wat u krijgt",
        "granted": "U krijgt {allocated} VTE bij, van de {requested} VTE die u vroeg.",
        "nothing": "U krijgt geen bijkomende VTE.",
        "cap": "U kreeg het maximum waarop u volgens de regels recht had: {cap} VTE.",
        "budget_left": "Bij uw beurt in de rangschikking bleef er van het budget{pot} nog {left} VTE over.",
        "budget_empty": "Het budget{pot} was al op bij uw beurt: de aanvragers die voor u gerangschikt waren, "
                        "kregen het volledig.",
        "budget_zero": "Er was geen budget{pot} te verdelen.",
        "pot": " van {region}",
        "share": "Het budget{pot} volstond niet voor alle aanvragen en werd {how} verdeeld: uw aandeel was "
                 "{ideal} VTE, {pct} van wat u vroeg.",
        "proportionally": "in verhouding", "proportionally_to": "in verhouding tot {weight}", "equally": "gelijk",
        "floor": "Dat aandeel werd afgerond naar {floor} VTE in volledige eenheden van {unit} VTE.",
        "remainder": "Van wat na het afronden overbleef, kreeg u nog {unit} VTE: u stond op plaats {turn} in de "
                     "volgorde van de grootste resten.",
        "rounds": "Het budget{pot} werd om beurten verdeeld, {unit} VTE per aanvrager per ronde, in volgorde van "
                  "de rangschikking; het volstond voor {rounds} volledige ronde(s).",
        "last_round": "In de laatste, onvolledige ronde kreeg u nog {unit} VTE: u had beurt {turn}.",
        "region": "{region} kreeg {share} VTE van het budget van {budget} VTE, naar {weight} "
                  "({pct} van het totaal).",
        "pooled": "Wat andere regio's niet konden gebruiken, werd nadien samengelegd; daaruit kreeg u {pooled} VTE.",
        "step": "Stap {number} ({kind}) gaf u {fte} VTE.",
        "step_turn": "Stap {number} ({kind}) gaf u {fte} VTE (beurt {turn} in de laatste ronde).",
        "steps_none": "Geen enkele stap van de verdeling gaf u VTE.",
        "steps_spent": "Na de laatste stap was het budget volledig verdeeld.",
        "steps_left": "Na de laatste stap bleef {left} VTE onverdeeld: de stappen lieten niet toe u meer te geven.",
        "kinds": {"reserve": "voorbehouden deel", "split": "verdeling over regio's", "minimum": "minimum",
                  "greedy": "in volgorde van rangschikking", "equal": "gelijke verdeling",
                  "proportional": "verdeling in verhouding", "round-robin": "om beurten", "pool": "samenleggen",
                  "reduce": "vermindering"},
        "reduced": "Uw contingent wordt verminderd met {reduced} VTE; samen met wat u krijgt, verandert het met "
                   "{change} VTE.",
        "method": "Hoe verdeeld werd: {description}",
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
        "facts_problem": "Your application could not be assessed: this figure is missing or invalid: {field}.",
        "figures": "Your figures: {figures}.",
        "missing": "Missing: {items}.",
        "reason": "Why not: {reason}",
        "quote": "The rule rests on: \u201c{source}\u201d",
        "priority": "2. Priority",
        "tier": "You are in priority group {tier}: {description}.",
        "ranking": "3. Your place in the ranking",
        "rank": "You are ranked {rank} of the {count} eligible applicants. The order is set by: {keys}.",
        "tie": "You tied with {others} on: {keys}. Then {last} decided ({order}): {draws}.",
        "draw": "{id} {value}", "draw_lottery": "the lottery", "draw_id": "the file number", "and_more": "and {n} others",
        "allocation": "{number}. What you receive",
        "granted": "You receive {allocated} FTE more, of the {requested} FTE you asked for.",
        "nothing": "You receive no additional FTE.",
        "cap": "You received the maximum the rules entitled you to: {cap} FTE.",
        "budget_left": "At your turn in the ranking, {left} FTE of the budget{pot} was left.",
        "budget_empty": "The budget{pot} was used up at your turn: the applicants ranked before you received all "
                        "of it.",
        "budget_zero": "There was no budget{pot} to share.",
        "pot": " of {region}",
        "share": "The budget{pot} did not cover every request and was shared {how}: your share was {ideal} FTE, "
                 "{pct} of what you asked for.",
        "proportionally": "proportionally", "proportionally_to": "in proportion to {weight}", "equally": "equally",
        "floor": "That share was rounded down to {floor} FTE in whole units of {unit} FTE.",
        "remainder": "Of what was left after rounding, you received {unit} FTE more: you were number {turn} in the "
                     "order of largest remainders.",
        "rounds": "The budget{pot} was handed out in turns, {unit} FTE per applicant per round, in ranking order; "
                  "it covered {rounds} full round(s).",
        "last_round": "In the last, incomplete round you received {unit} FTE more: you had turn {turn}.",
        "region": "{region} received {share} FTE of the budget of {budget} FTE, by {weight} ({pct} of the total).",
        "pooled": "What other regions could not use was pooled afterwards; you received {pooled} FTE from it.",
        "step": "Step {number} ({kind}) gave you {fte} FTE.",
        "step_turn": "Step {number} ({kind}) gave you {fte} FTE (turn {turn} in the last round).",
        "steps_none": "No step of the allocation gave you FTE.",
        "steps_spent": "After the last step the whole budget was handed out.",
        "steps_left": "After the last step {left} FTE remained unallocated: the steps did not allow giving you more.",
        "kinds": {"reserve": "reserve", "split": "split over regions", "minimum": "minimum", "greedy": "in ranking order",
                  "equal": "equal shares", "proportional": "proportional shares", "round-robin": "in turns",
                  "pool": "pooling", "reduce": "reduction"},
        "reduced": "Your contingent is reduced by {reduced} FTE; with what you receive, it changes by {change} FTE.",
        "method": "How it was shared: {description}",
        "high_first": "highest first", "low_first": "lowest first",
        "merged": "The application of {members}, merged into yours, was judged together with yours: your figures "
                  "were added up ({fields}), and you applied for all of you.",
        "and": "and",
        "member": "Your application ({member}) was merged into that of {head}, and judged together with it: this "
                  "decision is for both.",
        "closing": "This decision is kept in the decision log and can be recomputed and checked at any time.",
        "tier_word": "priority group", "lottery": "lottery", "id": "file number",
    },
}


def letter(record: dict, ruleset: Ruleset, applicant: str, lang: str = "nl", facts: dict | None = None) -> dict:
    """The letter to one applicant, as sections of paragraphs (``explain``'s shape, for the same renderers)."""
    w = WORDS[lang]
    decision = _find(record, applicant)
    fmt = Formatter(lang, ruleset, thresholds(record, ruleset))
    head = [w["intro"].format(name=decision.get("name") or decision["id"], id=decision["id"],
                              title=record["ruleset"]["title"], version=record["ruleset"]["version"],
                              as_of=fmt.date(dt.date.fromisoformat(record["as_of"]))),
            w["decision"].format(id=record["decision_id"][:16])]
    head += _group_lines(decision, applicant, ruleset, w, lang)
    sections = [{"title": w["title"], "lines": head}, _eligibility(decision, ruleset, fmt, w, facts)]
    number = 2
    if decision["eligible"]:
        sections += [_priority(decision, ruleset, w, lang), _ranking(record, decision, ruleset, fmt, w)]
        number = 4
    sections.append(_allocation(record, decision, ruleset, fmt, w, number))
    sections.append({"title": "", "lines": [w["closing"]]})
    return {"decision_id": record["decision_id"], "applicant": decision["id"], "language": lang, "for": "applicant",
            "sections": sections}


def _group_lines(decision: dict, applicant: str, ruleset: Ruleset, w: dict, lang: str) -> list[str]:
    """For a group's decision (``facts.group``): whose applications were judged with it, and which figures were
    added up; to a member, that its application was decided as part of the group."""
    if applicant != decision["id"]:
        return [w["member"].format(member=applicant, head=decision["id"])]
    if not decision.get("members"):
        return []
    group = ruleset.group
    fields = [label(ruleset, name, lang) for name in group.sum] + [label(ruleset, item.name, lang)
                                                                   for item in group.lists]
    return [w["merged"].format(members=_and(decision["members"], w), fields=", ".join(fields))]


def _and(items: list[str], w: dict) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {w['and']} {items[-1]}"


class Formatter:
    """Numbers, rates and dates as a reader of ``lang`` writes them."""

    def __init__(self, lang: str, ruleset: Ruleset, thresholds: tuple = ()):
        self.lang = lang
        self.locale = LOCALES[lang]
        self.ruleset = ruleset
        self.thresholds = thresholds  # what a value rounded for the reader must stay on its own side of

    def number(self, value: Any) -> str:
        from babel.numbers import format_decimal

        exact = _exact(value)
        if isinstance(exact, Fraction):  # no fraction in a letter: four decimals are plenty, unless near a threshold
            exact = on_its_side(exact, 4, (*self.thresholds, _NONE))
        return _decimal(exact, self.locale)

    @staticmethod
    def number_in(lang: str, value: Any) -> str:
        """``value`` as a reader of ``lang`` writes a number; a text that is no number stays as it is."""
        from babel.numbers import format_decimal

        exact = _exact(value) if not isinstance(value, str) or _is_fraction_text(value) else _decimal_text(value)
        if exact is None:
            return str(value)
        if isinstance(exact, Fraction):
            exact = on_its_side(exact, 4, (_NONE,))
        return _decimal(exact, LOCALES[lang])

    def rate(self, value: Any) -> str:
        from babel.numbers import format_percent

        percent = on_its_side(Fraction(_exact(value)), 2, (*self.thresholds, _NONE, _ALL), scale=100)
        places = max(2, -percent.as_tuple().exponent)
        return _babel(format_percent, Decimal(f"{percent}E-2"), "#,##0." + "0" * places + " %", self.locale)

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
        if isinstance(value, (int, Decimal, Fraction)) or _exact(value) is not None:
            return self.number(value)
        if isinstance(value, dict):  # an item of a list (a quarter): named by its first plain value
            return next((self.value(key, v) for key, v in value.items() if isinstance(v, str)), str(len(value)))
        if isinstance(value, list):
            return ", ".join(self.value(name, v) for v in value)
        return str(value)


_DECIMAL_TEXT = re.compile(r"\s*-?[0-9]{1,30}(\.[0-9]{1,30})?\s*")  # as a person writes a number: no exponent


def _decimal_text(value: str) -> Decimal | None:
    """A text that is a number as people write one ('12', '1.50'); None for any other ('1E5', 'NaN', 'Infinity')."""
    return Decimal(value.strip()) if _DECIMAL_TEXT.fullmatch(value) else None


_FRACTION_TEXT = re.compile(r"-?[0-9]+/[1-9][0-9]*")  # 'p/q' as a record of format 1 writes an exact fraction


def _is_fraction_text(value: Any) -> bool:
    """A text that is an exact fraction 'p/q'; '2018/06/20' or '1/0' is text, shown as given."""
    return isinstance(value, str) and _FRACTION_TEXT.fullmatch(value) is not None


def thresholds(record: dict, ruleset: Ruleset) -> tuple[Fraction, ...]:
    """The numbers the decision's values were held against: its parameters and the numbers written in its rules'
    conditions and its steps' ``for``."""
    trees = [rule.condition for rule in (*ruleset.eligibility, *ruleset.tiers)]
    trees += [step.when for step in ruleset.allocation.steps if step.when is not None]
    return numbers_in([*(record.get("parameters") or {}).values(), *(node.value for tree in trees
                                                                     for node in E.walk(tree)
                                                                     if isinstance(node, E.Literal))])


def numbers_in(values: Any) -> tuple[Fraction, ...]:
    """The exact numbers among ``values`` (as a decision or a rule file holds them), each once, in order."""
    return tuple(sorted({Fraction(number) for number in map(_exact, values) if number is not None}))


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


def label(ruleset: Ruleset, name: str, lang: str = "nl") -> str:
    """What a value is called for the reader: a derived value's description, a field's label in the reader's
    language (``x-label`` in the facts schema), else its name. A schema's ``description`` is written for the
    people who fill in the facts (in English), never quoted in a letter."""
    for derived in ruleset.derived:
        if derived.name == name:
            return _first_clause(say(ruleset, derived.description, lang))
    return field_label(ruleset, name.split("."), lang) or name.split(".")[-1].replace("_", " ")


_EVERY_DECIMAL = "#,##0." + "#" * 60  # a number is written with the decimals it has: rounding was done before


def _decimal(value: Any, locale: str) -> str:
    from babel.numbers import format_decimal

    return _babel(format_decimal, value, _EVERY_DECIMAL, locale)


def _babel(format_number: Callable, value: Decimal, pattern: str, locale: str) -> str:
    """``value`` written by Babel's ``format_number`` in a decimal context wide enough that every digit rounding kept
    is written whole (Babel computes in the current context; the default 28 digits raised or rounded)."""
    with localcontext(prec=120):
        return format_number(value, pattern, locale=locale)


def field_label(ruleset: Ruleset, path: list[str], lang: str) -> str | None:
    """The label of an applicant's field (``path``, nested) in ``lang``, as its facts schema gives it; else None."""
    return _schema_label({"properties": ruleset.applicant_fields}, path, lang)


def _schema_label(schema: Any, path: list[str], lang: str) -> str | None:
    for part in path:
        schema = (schema.get("properties") or {}).get(part) if isinstance(schema, dict) else None
    labels = schema.get("x-label") if isinstance(schema, dict) else None
    if isinstance(labels, dict) and isinstance(labels.get(lang), str):
        return _first_clause(labels[lang])
    return None


def say(ruleset: Ruleset, text: str, lang: str) -> str:
    """A text of the rule file in the reader's language: its translation, if the rule file gives one."""
    return ruleset.translations.get(text, {}).get(lang, text) if lang != "nl" else text


def _first_clause(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].lower() + text[1:].rstrip(".") if text[:2] != text[:2].upper() else text.rstrip(".")


def _figures(check: dict, ruleset: Ruleset, fmt: Formatter) -> list[str]:
    return [f"{label(ruleset, name, fmt.lang)}: {fmt.value(name, value)}" for name, value in check["values"].items()
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
        if check["rule"] == "facts" and not check["passed"]:  # an application set aside for its own problem
            field = str(check["values"].get("field", ""))
            lines.append("- " + w["facts_problem"].format(field=label(ruleset, field.split("[")[0].split(".")[0],
                                                                            fmt.lang)))
            continue
        rule = ruleset.rule(check["rule"])
        if rule is None:
            continue
        lines.append(f"- {say(ruleset, rule.description, fmt.lang).rstrip('.')}: "
                     f"{w['met'] if check['passed'] else w['not_met']}.")
        figures = _figures(check, ruleset, fmt)
        if figures:
            lines.append("  " + w["figures"].format(figures="; ".join(figures)))
        missing = _missing(check, ruleset, facts)
        if missing:
            lines.append("  " + w["missing"].format(items=", ".join(missing)))
        if not check["passed"] and rule.reason:
            lines.append("  " + w["reason"].format(reason=" ".join(say(ruleset, rule.reason, fmt.lang).split())))
        if rule.source and not check["passed"]:
            lines.append("  " + w["quote"].format(source=" ".join(rule.source.split())))
    return {"title": w["eligibility"], "lines": lines}


def _priority(decision: dict, ruleset: Ruleset, w: dict, lang: str) -> dict:
    rule = ruleset.rule(decision["tier_rule"]) if decision.get("tier_rule") else None
    description = say(ruleset, rule.description, lang).rstrip(".") if rule else ""
    lines = [w["tier"].format(tier=decision["tier"], description=description[:1].lower() + description[1:])]
    if rule is not None and rule.source:
        lines.append(w["quote"].format(source=" ".join(rule.source.split())))
    return {"title": w["priority"], "lines": lines}


def _ranking(record: dict, decision: dict, ruleset: Ruleset, fmt: Formatter, w: dict) -> dict:
    lang = fmt.lang
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
            words = label(ruleset, name, lang)
        order = w["high_first"] if key.descending else w["low_first"]
        keys.append(f"{words} ({order})" if name not in ("id",) and not name.startswith("lottery(") else words)
    lines = [w["rank"].format(rank=decision["rank"], count=record["eligible"], keys="; ".join(keys))]
    figures = _ranked_by(decision, ruleset, fmt)
    if figures:
        lines.append(w["figures"].format(figures="; ".join(figures)))
    return {"title": w["ranking"], "lines": lines + _tie(record, decision, ruleset, w, keys[:-1])}


def _ranked_by(decision: dict, ruleset: Ruleset, fmt: Formatter) -> list[str]:
    """The applicant's own values of the ranking keys that section 1 did not show (a rate a step went by, say)."""
    shown = {name for check in decision["reasons"] for name in check["values"]}
    values = decision.get("rank_keys") or {}
    return _figures({"values": {key.text: values[key.text] for key in ruleset.ranking if key.text in values
                                and key.text not in shown and key.text not in ("tier", "id")
                                and not key.text.startswith("lottery(")}}, ruleset, fmt)


def _tie(record: dict, decision: dict, ruleset: Ruleset, w: dict, before: list[str]) -> list[str]:
    """Who the applicant tied with on every ranking key but the last, and the last key's values that decided."""
    names = list(decision.get("rank_keys") or {})
    if len(names) < 2 or not ruleset.ranking:
        return []
    same = [decision["rank_keys"][n] for n in names[:-1]]
    tied = [d for d in record["decisions"] if d["eligible"] and d["id"] != decision["id"]
            and [(d.get("rank_keys") or {}).get(n) for n in names[:-1]] == same]
    if not tied:
        return []
    group = sorted([decision, *tied], key=lambda d: d["rank"])
    shown = group[:6]
    last = names[-1]
    value = (lambda d: str(d["rank_keys"][last])[:12]) if last.startswith("lottery(") else (lambda d: "")
    draws = "; ".join(w["draw"].format(id=d["id"], value=value(d)).strip() for d in shown)
    if len(group) > len(shown):
        draws += "; " + w["and_more"].format(n=len(group) - len(shown))
    others = ", ".join(d["id"] for d in tied[:5]) + (" " + w["and_more"].format(n=len(tied) - 5) if len(tied) > 5 else "")
    order = w["high_first"] if ruleset.ranking[-1].descending else w["low_first"]
    words = w["draw_lottery"] if last.startswith("lottery(") else w["draw_id"] if last == "id" else label(ruleset, last)
    return [w["tie"].format(others=others, keys="; ".join(before), last=words, order=order, draws=draws)]


def _allocation(record: dict, decision: dict, ruleset: Ruleset, fmt: Formatter, w: dict, number: int) -> dict:
    lines = []
    allocated = decision["allocated_fte"]
    if allocated:
        lines.append(w["granted"].format(allocated=fmt.number(allocated), requested=fmt.number(decision["requested_fte"])))
    else:
        lines.append(w["nothing"])
    if decision.get("reduced_fte"):
        lines.append(w["reduced"].format(reduced=fmt.number(decision["reduced_fte"]), change=fmt.number(decision["change_fte"])))
    constraint, why = shortfall(record, decision, ruleset, fmt, w)
    lines += why
    if decision["eligible"] and ruleset.allocation.description:
        text = say(ruleset, ruleset.allocation.description, fmt.lang)
        lines.append(w["method"].format(description=" ".join(text.split())))
    return {"title": w["allocation"].format(number=number), "lines": lines, "constraint": constraint}


def _num(value: Any) -> Fraction:
    exact = _exact(value)
    return Fraction(exact) if exact is not None else Fraction(0)


def shortfall(record: dict, decision: dict, ruleset: Ruleset, fmt: Formatter, w: dict) -> tuple[str | None, list[str]]:
    """Why an eligible applicant got less than it asked: the constraint that bound it, read from its own trace.

    Returns the constraint's name (cap, budget, share, rounds, steps; None when nothing bound) and the
    sentences that say it. Nothing here assumes the usual case: each sentence states a number of the trace.
    """
    trace = decision.get("allocation")
    if not decision["eligible"] or trace is None or decision.get("reduced_fte"):
        return None, []
    if _num(decision["allocated_fte"]) >= _num(decision["requested_fte"]):
        return None, []
    if trace.get("cap_fte") is not None and _num(trace["cap_fte"]) == _num(decision["allocated_fte"]):
        # what it got is its cap ('capped' says so too, except for a cap of 0 under equal or proportional)
        return "cap", [w["cap"].format(cap=fmt.number(trace["cap_fte"]))]
    if "steps" in trace:
        region = decision.get("region") if decision.get("region") in (record.get("regions") or {}) else None
        return "steps", (_region(record, region, ruleset, fmt, w) if region else []) + _steps(record, trace, fmt, w)
    return _method_shortfall(record, decision, ruleset, trace, fmt, w)


def _method_shortfall(record: dict, decision: dict, ruleset: Ruleset, trace: dict, fmt: Formatter,
                      w: dict) -> tuple[str, list[str]]:
    unit = fmt.number(record["unit_fte"])
    region = decision.get("region") if trace.get("region_budget_fte") is not None else None
    pot = w["pot"].format(region=region) if region else ""
    lines = _region(record, region, ruleset, fmt, w) if region else []
    method = ruleset.allocation.method
    if method == "greedy":
        constraint, own = "budget", _greedy(record, decision, trace, pot, fmt, w)
    elif method == "round-robin":
        constraint = "rounds"
        own = [w["rounds"].format(pot=pot, unit=unit, rounds=fmt.number(_num(trace["floor_fte"]) / _num(record["unit_fte"])))]
        if trace.get("remainder_turn"):
            own.append(w["last_round"].format(unit=unit, turn=trace["remainder_turn"]))
    else:
        constraint, own = "share", _share(decision, trace, pot, ruleset, unit, fmt, w)
    if _num(trace.get("pooled_fte")):
        own.append(w["pooled"].format(pooled=fmt.number(trace["pooled_fte"])))
    return constraint, lines + own


def _greedy(record: dict, decision: dict, trace: dict, pot: str, fmt: Formatter, w: dict) -> list[str]:
    left = _num(trace["floor_fte"])
    if left:
        return [w["budget_left"].format(pot=pot, left=fmt.number(trace["floor_fte"]))]
    before = [d for d in record["decisions"] if d["eligible"] and d["rank"] < decision["rank"]
              and d.get("region") == decision.get("region") and _num(d["allocated_fte"])]
    return [w["budget_empty" if before else "budget_zero"].format(pot=pot)]


def _share(decision: dict, trace: dict, pot: str, ruleset: Ruleset, unit: str, fmt: Formatter, w: dict) -> list[str]:
    ideal = _num(trace["ideal_fte"])
    weight = ruleset.allocation.weight_text
    if ruleset.allocation.method != "proportional":
        how = w["equally"]
    elif weight.replace("_", "").replace(".", "").isalnum():  # a field or derived value, not a formula
        how = w["proportionally_to"].format(weight=label(ruleset, weight, fmt.lang))
    else:
        how = w["proportionally"]
    lines = [w["share"].format(pot=pot, how=how, ideal=fmt.number(ideal),
                               pct=fmt.rate(ideal / _num(decision["requested_fte"])))]
    if ideal != _num(trace["floor_fte"]):
        lines.append(w["floor"].format(floor=fmt.number(trace["floor_fte"]), unit=unit))
    if trace.get("remainder_turn"):
        lines.append(w["remainder"].format(unit=unit, turn=trace["remainder_turn"]))
    return lines


def _region(record: dict, region: str, ruleset: Ruleset, fmt: Formatter, w: dict) -> list[str]:
    share = (record.get("regions") or {}).get(region)
    split = ruleset.allocation.split
    if not share or split is None:
        return []
    total = sum((_num(r["weight"]) for r in record["regions"].values()), Fraction(0))
    pct = fmt.rate(_num(share["weight"]) / total) if total else fmt.rate(0)
    return [w["region"].format(region=region, share=fmt.number(share["budget_fte"]), budget=fmt.number(record["budget_fte"]),
                               weight=label_region(ruleset, split.weight, fmt.lang), pct=pct)]


def label_region(ruleset: Ruleset, weight: str, lang: str) -> str:
    """What a region's weight is called: its label in the reader's language in the regions' schema."""
    from ..rules.checker import region_schema

    return _schema_label(region_schema(ruleset.facts_schema), [weight], lang) or weight.replace("_", " ")


def _steps(record: dict, trace: dict, fmt: Formatter, w: dict) -> list[str]:
    lines = []
    for step in trace["steps"]:
        if "fte" not in step:
            continue
        kind = w["kinds"].get(step["kind"], step["kind"])
        key = "step_turn" if step.get("turn") else "step"
        lines.append(w[key].format(number=step["step"], kind=kind, fte=fmt.number(step["fte"]), turn=step.get("turn")))
    if not lines:
        lines.append(w["steps_none"])
    steps = record.get("steps") or []
    left = steps[-1]["left_fte"] if steps else record["unallocated_fte"]
    lines.append(w["steps_left"].format(left=fmt.number(left)) if _num(left) else w["steps_spent"])
    return lines


def as_letter_text(result: dict, width: int = 80) -> str:
    """The letter as wrapped text; list items keep their hanging indent."""
    out = []
    head = result.get("head")
    if head:
        out += head["sender"] + [""] + head["addressee"] + ["", head["date"], head["reference"], ""]
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


LETTER_STYLE = """body{font-family:"DejaVu Serif",Georgia,serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.4rem}ul{padding-left:1.2rem}p.sub{margin:.1rem 0 .1rem 1.2rem}
header{display:flex;flex-wrap:wrap;justify-content:space-between;margin-bottom:1.5rem}header p{margin:0 0 1rem 0}
.to{min-width:16rem}.ref{width:100%}
@media print{body{margin:0;max-width:none;font-size:11pt}@page{size:A4;margin:2.5cm 2cm}}"""


def as_letter_html(result: dict) -> str:
    """The letter as a page to read or print (A4): the same sentences as the text, nothing loaded from elsewhere."""
    from html import escape

    sections = result["sections"]
    out = [f'<!DOCTYPE html><html lang="{escape(result["language"])}"><head><meta charset="utf-8">'
           f"<title>{escape(sections[0]['title'])}</title><style>{LETTER_STYLE}</style></head><body>",
           _html_head(result.get("head"))]
    for number, section in enumerate(sections):
        if section["title"]:
            tag = "h1" if number == 0 else "h2"
            out.append(f"<{tag}>{escape(section['title'])}</{tag}>")
        items = []
        for line in section["lines"]:
            if line.startswith("- "):
                items.append(f"<li>{escape(line[2:])}")
            elif line.startswith("  ") and items:
                items[-1] += f'<p class="sub">{escape(line.strip())}</p>'
            else:
                out += _close(items) + [f"<p>{escape(line)}</p>"]
                items = []
        out += _close(items)
    return "".join(out) + "</body></html>\n"


def _html_head(head: dict | None) -> str:
    from html import escape

    if not head:
        return ""
    lines = lambda items: "<br>".join(escape(item) for item in items)  # noqa: E731
    return (f'<header><p class="sender">{lines(head["sender"])}</p><p class="to">{lines(head["addressee"])}</p>'
            f'<p class="ref">{escape(head["date"])}<br>{escape(head["reference"])}</p></header>')


def as_letters_pdf(letters: list[dict]) -> bytes:
    """Letters as one PDF, one letter from a new page (WeasyPrint: A4, the fonts of the machine, nothing fetched)."""
    from weasyprint import HTML

    pages = [as_letter_html(result) for result in letters]
    bodies = [page.split("<body>", 1)[1].rsplit("</body>", 1)[0] for page in pages]
    lang = letters[0]["language"] if letters else "nl"
    html = (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><style>{LETTER_STYLE}'
            "section.letter{break-before:page}section.letter:first-child{break-before:auto}</style></head><body>"
            + "".join(f'<section class="letter">{body}</section>' for body in bodies) + "</body></html>")
    return HTML(string=html, url_fetcher=_no_fetch).write_pdf()


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"a letter loads nothing from elsewhere ({url[:60]})")


def _close(items: list[str]) -> list[str]:
    return ["<ul>" + "".join(f"{item}</li>" for item in items) + "</ul>"] if items else []


SENDING = {
    "nl": {"reference": "Ons kenmerk: {reference}", "date": "Datum: {date}", "basis_title": "Rechtsgrond",
           "basis": "Deze beslissing berust op: {basis}.", "appeal_title": "Beroep", "contact": "Contact: {contact}",
           "to": "Aan"},
    "en": {"reference": "Our reference: {reference}", "date": "Date: {date}", "basis_title": "Legal basis",
           "basis": "This decision rests on: {basis}.", "appeal_title": "Appeal", "contact": "Contact: {contact}",
           "to": "To"},
}
ADDRESS_FIELDS = ("address", "street", "postcode", "postal_code", "city", "municipality")


def for_sending(result: dict, ruleset: Ruleset, lang: str, facts: dict | None, record_id: str,
                recorded_at: str) -> dict:
    """The letter as an administration sends it: sender, addressee, date, file reference, legal basis, appeal
    route and signature, from the rule file's ``letter:`` section and the applicant's own facts. Without such a
    section the letter stays as it is."""
    spec = ruleset.letter
    if not spec:
        return result
    w = SENDING[lang]
    fmt = Formatter(lang, ruleset)
    sender = spec.get("sender", {})
    head = {"sender": [text for key in ("administration", "department", "address")
                       if (text := _in(sender.get(key), lang))],
            "addressee": _addressee(facts, result["applicant"]),
            "date": w["date"].format(date=fmt.date(dt.date.fromisoformat(recorded_at[:10]))),
            "reference": w["reference"].format(reference=f"{record_id} / {result['applicant']}")}
    if _in(sender.get("contact"), lang):
        head["sender"].append(w["contact"].format(contact=_in(sender["contact"], lang)))
    source = ruleset.source
    basis = str(source.get("title", ""))
    closing = [{"title": w["basis_title"], "lines": [w["basis"].format(basis=basis)]},
               {"title": w["appeal_title"], "lines": [" ".join(_in(spec.get("appeal"), lang).split())]}]
    if _in(spec.get("signature"), lang):
        closing.append({"title": "", "lines": [_in(spec["signature"], lang)]})
    sections = result["sections"][:-1] + closing + result["sections"][-1:]
    return {**result, "head": head, "sections": sections}


def _in(text: Any, lang: str) -> str:
    """A text of the rule file in the reader's language: a plain text, or {nl: ..., en: ...} (Dutch if no other)."""
    if isinstance(text, dict):
        return str(text.get(lang) or text.get("nl") or "")
    return str(text or "")


def _addressee(facts: dict | None, applicant: str) -> list[str]:
    """The applicant's name and address, as its facts hold them."""
    facts = facts or {}
    lines = [str(facts.get("name") or applicant)]
    for key in ADDRESS_FIELDS:
        value = facts.get(key)
        if isinstance(value, str) and value.strip():
            lines.append(value.strip())
    return lines
