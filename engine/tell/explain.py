"""Plain-language motivation of a decision, from its trace and the rule texts.

Belgian law requires an administrative decision to state its reasons in fact
and in law: the facts are the values in the trace, the law is each rule's
description and source citation. Every number printed here is taken from
the stored decision record; nothing is recomputed. Dutch by default (the
language of the administration), English on request.
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..rules.compile import Ruleset
from ..errors import LookupFailure, did_you_mean, escape_text
from ..rules.expr import format_decimal

PHRASES = {
    "nl": {
        "title": "Motivering van beslissing {id}",
        "ruleset": "Regelset: {title} (versie {version}), toestand op {as_of}.",
        "applicant": "Aanvrager: {id} — {name}{region}.",
        "members": "Samen beoordeeld met de samengevoegde aanvragen: {ids}; opgeteld: {fields}.",
        "eligibility": "1. Ontvankelijkheid",
        "held": "voldaan", "failed": "niet voldaan",
        "rule": "Regel '{id}': {description}",
        "condition": "Voorwaarde: {text}",
        "values": "Vastgestelde waarden: {values}.",
        "source": "Grondslag: {source}",
        "note": "Toelichting van de beleidsmaker: {note}",
        "set_aside": "- De aanvraag werd terzijde gelegd om een fout in haar gegevens — {values}.",
        "reason": "Waarom niet: {reason}",
        "eligible": "Besluit: de aanvrager komt in aanmerking.",
        "ineligible": "Besluit: de aanvrager komt niet in aanmerking, omdat niet voldaan is aan: {rules}.",
        "priority": "2. Voorrang",
        "tier_checked": "Prioriteitsgroep {tier} ('{id}', {status}): {description}",
        "tier": "De aanvrager valt in prioriteitsgroep {tier}: {description}",
        "tier_default": "Geen van de voorrangsregels is van toepassing; de aanvrager valt in de algemene groep {tier}: {description}",
        "ranking": "3. Rangschikking",
        "rank": "Rang {rank} van {count} aanvragers die in aanmerking komen, bepaald door (in volgorde): {keys}.",
        "asc": "oplopend", "desc": "aflopend",
        "allocation": "4. Toekenning",
        "method": "Verdeelmethode: {description}",
        "region": "Aandeel van {region} in het budget: {share} VTE (quotum {quota} VTE volgens gewicht {weight}).",
        "ideal": "Ideaal aandeel binnen de provincie: {ideal} VTE; afgerond naar beneden: {floor} VTE.",
        "floor_only": "Toegekend in volgorde van rangschikking: {floor} VTE.",
        "before_me": "Aan de {count} aanvragers met een betere rang werd samen {before} VTE toegekend, van het budget van {budget} VTE; voor deze aanvrager bleef {left} VTE over.",
        "turn": "Bij de verdeling van de resterende eenheden kreeg de aanvrager 1 eenheid extra (beurt {turn}).",
        "capped": "Het aandeel is begrensd door de aanvraag ({requested} VTE).",
        "capped_at": "Het aandeel is begrensd door het maximum voor deze aanvrager: {cap} VTE ({rule}).",
        "pooled": "Uit wat andere provincies niet konden gebruiken, kreeg de aanvrager {pooled} VTE extra.",
        "granted": "Toegekend: {allocated} VTE van de gevraagde {requested} VTE.",
        "not_granted": "Er wordt geen bijkomend contingent toegekend.",
        "call_title": "Motivering van de verdeling {id}",
        "call_summary": "Budget {budget} VTE in eenheden van {unit} VTE; toegekend {allocated} VTE, niet toegekend {unallocated} VTE. {eligible} van de {applicants} aanvragers komen in aanmerking.",
        "call_region": "{region}: gewicht {weight}, quotum {quota} VTE, aandeel {share} VTE, toegekend {allocated} VTE aan {eligible} van {applicants} aanvragers.",
        "call_line": "Rang {rank}: {id} ({name}) — {allocated} VTE van {requested} gevraagd.",
        "call_out": "Niet in aanmerking: {id} ({name}) — niet voldaan aan {rules}.",
        "param": "{name} = {value}",
        "step": "Stap {number} ({kind}): {description}",
        "step_given": "Voor deze aanvrager: {fte} VTE{turn}.",
        "step_turn": " (de laatste eenheid in beurt {turn} van de laatste ronde)",
        "step_taken": "Deze aanvrager staat {fte} VTE af.",
        "step_nothing": "Voor deze aanvrager: niets{only}.",
        "step_only": " (de stap geldt alleen als {condition})",
        "step_totals": "De stap had {budget} VTE en liet {left} VTE over.",
        "step_freed": "De stap maakte {budget} VTE vrij; daarna was {left} VTE te verdelen.",
        "reduced": "Vermindering: {reduced} VTE; toegekend: {allocated} VTE; netto verandering: {change} VTE.",
        "call_reduced": "Verminderingen maakten {reduced} VTE vrij.",
        "call_line_reduced": " Verminderd met {reduced} VTE; netto {change} VTE.",
        "kinds": {"reserve": "reserve", "split": "verdeling over de regio's", "minimum": "minimum",
                  "greedy": "in volgorde van rangschikking", "equal": "gelijke verdeling",
                  "proportional": "naar verhouding", "round-robin": "per eenheid in het rond",
                  "pool": "wat regio's overhielden", "reduce": "vermindering"},
    },
    "en": {
        "title": "Statement of reasons for decision {id}",
        "ruleset": "Ruleset: {title} (version {version}), as of {as_of}.",
        "applicant": "Applicant: {id} — {name}{region}.",
        "members": "Judged together with the applications merged into it: {ids}; added up: {fields}.",
        "eligibility": "1. Eligibility",
        "held": "met", "failed": "not met",
        "rule": "Rule '{id}': {description}",
        "condition": "Condition: {text}",
        "values": "Values found: {values}.",
        "source": "Legal basis: {source}",
        "note": "The policy owner's note: {note}",
        "set_aside": "- The application was set aside for a problem in its facts — {values}.",
        "reason": "Why not: {reason}",
        "eligible": "Finding: the applicant is eligible.",
        "ineligible": "Finding: the applicant is not eligible, because these rules are not met: {rules}.",
        "priority": "2. Priority",
        "tier_checked": "Priority tier {tier} ('{id}', {status}): {description}",
        "tier": "The applicant is in priority tier {tier}: {description}",
        "tier_default": "No priority rule applies; the applicant is in the general tier {tier}: {description}",
        "ranking": "3. Ranking",
        "rank": "Rank {rank} of {count} eligible applicants, set by (in order): {keys}.",
        "asc": "ascending", "desc": "descending",
        "allocation": "4. Allocation",
        "method": "Method: {description}",
        "region": "Share of {region} in the budget: {share} FTE (quota {quota} FTE by weight {weight}).",
        "ideal": "Ideal share within the region: {ideal} FTE; rounded down: {floor} FTE.",
        "floor_only": "Granted in rank order: {floor} FTE.",
        "before_me": "The {count} applicants ranked higher were granted {before} FTE together, of the budget of {budget} FTE; {left} FTE was left for this applicant.",
        "turn": "When the remaining units were handed out, the applicant received 1 more unit (turn {turn}).",
        "capped": "The share is capped by the request ({requested} FTE).",
        "capped_at": "The share is capped by this applicant's maximum: {cap} FTE ({rule}).",
        "pooled": "From what other regions could not use, the applicant received {pooled} FTE more.",
        "granted": "Granted: {allocated} FTE of the {requested} FTE requested.",
        "not_granted": "No additional contingent is granted.",
        "call_title": "Statement of reasons for allocation {id}",
        "call_summary": "Budget {budget} FTE in units of {unit} FTE; allocated {allocated} FTE, unallocated {unallocated} FTE. {eligible} of {applicants} applicants are eligible.",
        "call_region": "{region}: weight {weight}, quota {quota} FTE, share {share} FTE, {allocated} FTE allocated to {eligible} of {applicants} applicants.",
        "call_line": "Rank {rank}: {id} ({name}) — {allocated} FTE of {requested} requested.",
        "call_out": "Not eligible: {id} ({name}) — rules not met: {rules}.",
        "param": "{name} = {value}",
        "step": "Step {number} ({kind}): {description}",
        "step_given": "For this applicant: {fte} FTE{turn}.",
        "step_turn": " (the last unit in turn {turn} of the last round)",
        "step_taken": "This applicant gives up {fte} FTE.",
        "step_nothing": "For this applicant: nothing{only}.",
        "step_only": " (the step only applies if {condition})",
        "step_totals": "The step had {budget} FTE and left {left} FTE.",
        "step_freed": "The step freed {budget} FTE; {left} FTE was then to be handed out.",
        "reduced": "Reduction: {reduced} FTE; granted: {allocated} FTE; net change: {change} FTE.",
        "call_reduced": "Reductions freed {reduced} FTE.",
        "call_line_reduced": " Reduced by {reduced} FTE; net {change} FTE.",
        "kinds": {"reserve": "reserve", "split": "split over the regions", "minimum": "minimum",
                  "greedy": "in rank order", "equal": "equal shares", "proportional": "in proportion",
                  "round-robin": "one unit at a time, in turn", "pool": "what regions left over",
                  "reduce": "reduction"},
    },
}


def show(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"numerator", "denominator", "approx"}:  # format 2's fraction
        value = f"{value['numerator']}/{value['denominator']}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, Fraction):
        value = f"{value.numerator}/{value.denominator}"
    if isinstance(value, str) and "/" in value and value.replace("/", "").lstrip("-").isdigit():
        numerator, denominator = value.split("/")
        return f"{Decimal(numerator) / Decimal(denominator):.6f}… (exact {value})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def explain_applicant(record: dict, ruleset: Ruleset, applicant: str, lang: str = "nl") -> dict:
    """The motivation of one applicant's decision as sections of sentences."""
    p = PHRASES[lang]
    decision = _find(record, applicant)
    region = f" ({decision['region']})" if decision.get("region") else ""
    sections = [{"title": p["title"].format(id=record["decision_id"][:16]), "lines": [
        p["ruleset"].format(title=record["ruleset"]["title"], version=record["ruleset"]["version"], as_of=record["as_of"]),
        p["applicant"].format(id=decision["id"], name=decision.get("name") or "", region=region)]}]
    if decision.get("members") and ruleset.group is not None:
        sections[0]["lines"].append(p["members"].format(ids=", ".join(decision["members"]),
                                                        fields=", ".join(ruleset.group.fields)))
    sections.append(_eligibility(decision, ruleset, p))
    if decision["eligible"]:
        sections.append(_priority(decision, ruleset, p))
        sections.append(_ranking(record, decision, ruleset, p))
    sections.append(_allocation(record, decision, ruleset, p))
    return {"decision_id": record["decision_id"], "applicant": decision["id"], "language": lang, "sections": sections}


def _find(record: dict, applicant: str) -> dict:
    """The decision about ``applicant``: its own, or that of the group it was merged into (``facts.group``)."""
    for decision in record["decisions"]:
        if decision["id"] == applicant:
            return decision
    for decision in record["decisions"]:
        if applicant in (decision.get("members") or ()):
            return decision
    ids = [d["id"] for d in record["decisions"]]
    raise LookupFailure(f"no applicant '{applicant}' in decision {record['decision_id'][:16]}{did_you_mean(applicant, ids)}")


def _values(values: dict) -> str:
    return "; ".join(f"{name} = {show(value)}" for name, value in values.items())


def _rule_lines(rule, check: dict, p: dict) -> list:
    lines = [p["rule"].format(id=rule.id, description=rule.description) + f" — {p['held'] if check['passed'] else p['failed']}.",
             "   " + p["condition"].format(text=" ".join(rule.text.split())),
             "   " + p["values"].format(values=_values(check["values"]))]
    if rule.source:
        lines.append("   " + p["source"].format(source=rule.source))
    if rule.note:
        lines.append("   " + p["note"].format(note=" ".join(rule.note.split())))
    if rule.reason and not check["passed"]:  # the policy owner's own words for the applicant who fails it
        lines.append("   " + p["reason"].format(reason=" ".join(rule.reason.split())))
    return lines


def _eligibility(decision: dict, ruleset: Ruleset, p: dict) -> dict:
    lines: list = []
    for check in decision["reasons"]:
        rule = ruleset.rule(check["rule"])
        if rule is None:  # not a rule of the file: the application itself was set aside (on_invalid: exclude)
            lines.append(p["set_aside"].format(values=_values(check["values"])))
            continue
        lines += _rule_lines(rule, check, p)
    failed = [c["rule"] for c in decision["reasons"] if not c["passed"]]
    lines.append(p["eligible"] if not failed else p["ineligible"].format(rules=", ".join(failed)))
    return {"title": p["eligibility"], "lines": lines}


def _priority(decision: dict, ruleset: Ruleset, p: dict) -> dict:
    lines: list = []
    for number, check in enumerate(decision["tier_checks"], start=1):
        rule = ruleset.rule(check["rule"])
        status = p["held"] if check["passed"] else p["failed"]
        lines.append(p["tier_checked"].format(tier=number, id=rule.id, status=status, description=rule.description))
        lines += _rule_lines(rule, check, p)[1:]
    rule = ruleset.rule(decision["tier_rule"])
    key = "tier_default" if rule is ruleset.default_tier and ruleset.tiers else "tier"
    lines.append(p[key].format(tier=decision["tier"], description=rule.description))
    if rule.source and rule is ruleset.default_tier:
        lines.append("   " + p["source"].format(source=rule.source))
    return {"title": p["priority"], "lines": lines}


def _ranking(record: dict, decision: dict, ruleset: Ruleset, p: dict) -> dict:
    keys = "; ".join(f"{k.text} = {show(decision['rank_keys'].get(k.text))} ({p['desc' if k.descending else 'asc']})"
                     for k in ruleset.ranking)
    return {"title": p["ranking"], "lines": [p["rank"].format(rank=decision["rank"], count=record["eligible"], keys=keys)]}


def _allocation(record: dict, decision: dict, ruleset: Ruleset, p: dict) -> dict:
    lines = []
    if ruleset.allocation.description:
        lines.append(p["method"].format(description=" ".join(ruleset.allocation.description.split())))
    trace = decision.get("allocation")
    if trace and "steps" in trace:
        lines += _step_lines(record, decision, ruleset, p)
    elif trace:
        region = record["regions"].get(decision.get("region") or "")
        if region:
            lines.append(p["region"].format(region=decision["region"], share=show(region["budget_fte"]),
                                            quota=show(region["quota_fte"]), weight=show(region["weight"])))
        if trace["ideal_fte"] is not None:
            lines.append(p["ideal"].format(ideal=show(trace["ideal_fte"]), floor=show(trace["floor_fte"])))
        else:
            lines.append(p["floor_only"].format(floor=show(trace["floor_fte"])))
            higher = [d for d in record["decisions"] if d["eligible"] and d["rank"] < decision["rank"]]
            before = sum((d["allocated_fte"] for d in higher), Decimal(0))
            lines.append(p["before_me"].format(count=len(higher), before=show(before), budget=show(record["budget_fte"]),
                                               left=show(max(record["budget_fte"] - before, Decimal(0)))))
        if trace["remainder_turn"]:
            lines.append(p["turn"].format(turn=trace["remainder_turn"]))
        if trace["capped"]:
            lines.append(_capped(trace, decision, ruleset, p))
        if trace["pooled_fte"]:
            lines.append(p["pooled"].format(pooled=show(trace["pooled_fte"])))
    allocated = decision["allocated_fte"]
    if "reduced_fte" in decision:
        lines.append(p["reduced"].format(reduced=show(decision["reduced_fte"]), allocated=show(allocated),
                                         change=show(decision["change_fte"])))
    elif allocated:
        lines.append(p["granted"].format(allocated=show(allocated), requested=show(decision["requested_fte"])))
    else:
        lines.append(p["not_granted"])
    return {"title": p["allocation"], "lines": lines}


def _step_lines(record: dict, decision: dict, ruleset: Ruleset, p: dict) -> list[str]:
    """What each allocation step did for this applicant (and had and left, over all applicants)."""
    trace = decision["allocation"]
    given = {entry["step"]: entry for entry in trace["steps"]}
    lines = []
    for number, (step, total) in enumerate(zip(ruleset.allocation.steps, record["steps"]), 1):
        description = " ".join(step.description.split()) or step.kind
        lines.append(p["step"].format(number=number, kind=p["kinds"][step.kind], description=description))
        if step.kind == "split":
            region = record["regions"].get(decision.get("region") or "")
            if region:
                lines.append(p["region"].format(region=decision["region"], share=show(region["budget_fte"]),
                                                quota=show(region["quota_fte"]), weight=show(region["weight"])))
            continue
        entry = given.get(number)
        if entry and step.kind == "reduce":
            lines.append(p["step_taken"].format(fte=show(entry["reduced_fte"])))
        elif entry:
            turn = p["step_turn"].format(turn=entry["turn"]) if entry.get("turn") and step.kind == "round-robin" else ""
            lines.append(p["step_given"].format(fte=show(entry["fte"]), turn=turn))
        else:
            only = p["step_only"].format(condition=" ".join(step.when_text.split())) if step.when_text else ""
            lines.append(p["step_nothing"].format(only=only))
        totals = p["step_freed"] if step.kind == "reduce" else p["step_totals"]
        lines.append(totals.format(budget=show(total["budget_fte"]), left=show(total["left_fte"])))
    if trace["capped"]:
        lines.append(_capped(trace, decision, ruleset, p))
    return lines


def _capped(trace: dict, decision: dict, ruleset: Ruleset, p: dict) -> str:
    """Which cap held the share back: the request, or the cap expression when it was lower."""
    cap = trace.get("cap_fte")  # recorded since 2026-11-27; before, the cap was taken to be the request
    if cap is None or decision["requested_fte"] is None or Decimal(str(cap)) == Decimal(str(decision["requested_fte"])):
        return p["capped"].format(requested=show(decision["requested_fte"]))
    return p["capped_at"].format(cap=show(cap), rule=" ".join(ruleset.allocation.cap_text.split()))


def explain_call(record: dict, lang: str = "nl") -> dict:
    """The motivation of the whole call: totals, regions, and one line per applicant."""
    p = PHRASES[lang]
    lines = [p["ruleset"].format(title=record["ruleset"]["title"], version=record["ruleset"]["version"],
                                 as_of=record["as_of"]),
             p["call_summary"].format(budget=show(record["budget_fte"]), unit=show(record["unit_fte"]),
                                      allocated=show(record["allocated_fte"]),
                                      unallocated=show(record["unallocated_fte"]), eligible=record["eligible"],
                                      applicants=record["applicants"])]
    if "reduced_fte" in record:
        lines.append(p["call_reduced"].format(reduced=show(record["reduced_fte"])))
    lines += [p["call_region"].format(region=name, weight=show(r["weight"]), quota=show(r["quota_fte"]),
                                      share=show(r["budget_fte"]), allocated=show(r["allocated_fte"]),
                                      eligible=r["eligible"], applicants=r["applicants"])
              for name, r in record["regions"].items()]
    for d in record["decisions"]:
        if d["eligible"]:
            line = p["call_line"].format(rank=d["rank"], id=d["id"], name=d.get("name") or "",
                                         allocated=show(d["allocated_fte"]), requested=show(d["requested_fte"]))
            if d.get("reduced_fte"):
                line += p["call_line_reduced"].format(reduced=show(d["reduced_fte"]), change=show(d["change_fte"]))
            lines.append(line)
        else:
            failed = ", ".join(c["rule"] for c in d["reasons"] if not c["passed"])
            lines.append(p["call_out"].format(id=d["id"], name=d.get("name") or "", rules=failed))
    return {"decision_id": record["decision_id"], "language": lang,
            "sections": [{"title": p["call_title"].format(id=record["decision_id"][:16]), "lines": lines}]}


GOVERNANCE = {
    "nl": {"simulation": "Dit is een simulatie, geen officiële beslissing.",
           "override": "Parameter {name}: {value} in deze simulatie (gepubliceerde waarde: {published}).",
           "asked": "Aangevraagd door: {name}.", "reason": "Reden: {reason}",
           "approved": "Goedgekeurd door: {names}."},
    "en": {"simulation": "This is a simulation, not an official decision.",
           "override": "Parameter {name}: {value} in this simulation (published value: {published}).",
           "asked": "Requested by: {name}.", "reason": "Reason: {reason}",
           "approved": "Approved by: {names}."},
}


def with_governance(explanation: dict, record: dict, requested_by: str | None, reason: str | None,
                    published: dict) -> dict:
    """The explanation with what governance adds: a simulation says so first, naming each overridden
    parameter with its published value; then who asked, why, and the approvals relied on."""
    if not explanation.get("sections"):
        return explanation
    words = GOVERNANCE[explanation.get("language", "nl")]
    first = explanation["sections"][0]["lines"]
    top, rest = [], first[:1]
    if record.get("kind") == "simulation":
        top.append(words["simulation"])
        top += [words["override"].format(name=name, value=show(value), published=show(published.get(name)))
                for name, value in record.get("overrides", {}).items()]
    if requested_by:
        rest.append(words["asked"].format(name=requested_by))
    if reason:
        rest.append(words["reason"].format(reason=reason))
    if record.get("approvals"):
        names = ", ".join(f"{a['by']} (record {a['seq']}, {a['recorded_at'][:10]})" for a in record["approvals"])
        rest.append(words["approved"].format(names=names))
    section = dict(explanation["sections"][0], lines=top + rest + first[1:])
    return {**explanation, "sections": [section, *explanation["sections"][1:]]}


def as_text(explanation: dict, width: int | None = None) -> str:
    """The explanation as text, each line wrapped to ``width`` (the terminal's) with a hanging indent."""
    from .render import wrap

    parts = []
    for section in explanation["sections"]:
        parts.append(escape_text(section["title"]))
        parts.extend(wrap("  " + escape_text(line), "   ", width) for line in section["lines"])
        parts.append("")
    return "\n".join(parts)
