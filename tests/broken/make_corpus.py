"""Write the corpus of broken rule and facts files, one fault each.

Each fault is written into a valid base text between the markers [[ and ]];
the expected line:col is where the marked text starts (found by plain string
search, independently of the engine), and the markers are removed. Run:

    python tests/broken/make_corpus.py
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

RULES = '''\
ruleset: lde
version: "2018.9"
status: published
title: Test ruleset
effective:
  from: 2018-06-15
source:
  title: Vraag 491
budget:
  fte: 10
  unit: 1
facts:
  schema: lde.facts.schema.json
parameters:
  min_realisation_rate:
    value: 0.90
    description: Minimale realisatiegraad
derived:
  assessment_sum:
    description: Totaalscore
    expr: assessment.guidance_actions + assessment.transition_vision
eligibility:
  - id: sufficient_realisation
    description: Voldoende draagkracht
    source: "2. Verdelingscriteria"
    when: realisation_rate >= params.min_realisation_rate
priority:
  tiers:
    - id: small
      description: Klein
      source: "2. Prioriteitscriteria"
      when: contingent_fte < 5
  default:
    id: other
    description: Overige
ranking:
  - by: tier
    order: asc
  - by: id
    order: asc
allocation:
  method: greedy
  cap: requested_fte
'''

FACTS = '''\
applicants:
  - id: A-1
    name: Een
    province: Antwerpen
    contingent_fte: 3
    requested_fte: 2
    realisation_rate: 0.95
    merged_on: null
    assessment: {guidance_actions: 2, transition_vision: 2, realised_transition: 2, regular_cooperation: 2}
  - id: A-2
    name: Twee
    province: Limburg
    contingent_fte: 7.5
    requested_fte: 3
    realisation_rate: 0.91
    merged_on: 2016-02-01
    assessment: {guidance_actions: 3, transition_vision: 2, realised_transition: 1, regular_cooperation: 1}
'''

SHELTERED = '''\
regions:
  Antwerpen: {work_disabled: 9800}
  Limburg: {work_disabled: 4700}
applicants:
  - id: BW-1
    name: Een
    province: Antwerpen
    contingent_fte: 100
    requested_fte: 5
    quarters:
      - {quarter: 2016Q3, contingent_fte: 100, filled_fte: 96}
      - {quarter: 2016Q4, contingent_fte: 100, filled_fte: 96}
'''

# name: (base, find, replace-with-marked, keywords)
RULE_FAULTS = {
    "unknown-top-key": ("title: Test ruleset", "[[titel]]: Test ruleset\ntitle: Test", ["unknown key 'titel'", "did you mean 'title'"]),
    "misspelled-rule-key": ("    description: Voldoende draagkracht", "    [[descripton]]: Voldoende draagkracht", ["unknown key 'descripton'", "did you mean 'description'"]),
    "missing-rule-source": ('  - id: sufficient_realisation\n    description: Voldoende draagkracht\n    source: "2. Verdelingscriteria"\n',
                            "  - [[id]]: sufficient_realisation\n    description: Voldoende draagkracht\n", ["missing required key 'source'"]),
    "budget-not-number": ("  fte: 10", "  fte: [[lots]]", ["budget.fte", "unknown field 'lots'"]),
    "budget-not-whole-units": ("  fte: 10\n  unit: 1", "  fte: [[10]]\n  unit: 3", ["not a whole number of units"]),
    "bad-date": ("  from: 2018-06-15", "  from: [[2018-13-01]]", ["must be a date"]),
    "period-ends-before-start": ("  from: 2018-06-15", "  from: 2018-06-15\n  to: [[2018-01-01]]", ["ends", "before it starts"]),
    "unknown-field": ("    when: realisation_rate >= params", "    when: [[realisaton_rate]] >= params", ["unknown field 'realisaton_rate'", "did you mean 'realisation_rate'"]),
    "unknown-parameter": ("params.min_realisation_rate\npriority", "[[params.min_realisaton_rate]]\npriority", ["unknown parameter 'min_realisaton_rate'", "did you mean 'min_realisation_rate'"]),
    "expression-incomplete": ("    when: realisation_rate >= params.min_realisation_rate", "    when: realisation_rate >= params.min_realisation_rate [[and]]", ["expected a value", "end of the expression"]),
    "unknown-function": ("    when: contingent_fte < 5", "    when: [[avg]](contingent_fte) < 5", ["unknown function 'avg'"]),
    "type-mismatch": ("    when: contingent_fte < 5", "    when: contingent_fte [[<]] \"five\"", ["cannot compare a number with a string"]),
    "chained-comparison": ("    when: contingent_fte < 5", "    when: 1 < contingent_fte [[<]] 5", ["cannot be chained"]),
    "not-a-condition": ("    when: contingent_fte < 5", "    when: [[contingent_fte + 1]]", ["must be true or false"]),
    "duplicate-rule-id": ("    - id: small", "    - id: [[sufficient_realisation]]", ["used twice"]),
    "bad-order": ("  - by: id\n    order: asc", "  - by: id\n    order: [[up]]", ["must be one of asc, desc"]),
    "unknown-method": ("  method: greedy", "  method: [[lottery]]", ["must be one of", "lottery"]),
    "proportional-without-weight": ("allocation:\n  method: greedy", "allocation:\n  [[method]]: proportional", ["needs a 'weight'"]),
    "schema-not-found": ("  schema: lde.facts.schema.json", "  schema: [[ldee.facts.schema.json]]", ["not found", "did you mean 'lde.facts.schema.json'"]),
    "schema-path-escape": ("  schema: lde.facts.schema.json", "  schema: [[../../etc/passwd]]", ["not a schema file name"]),
    "yaml-bad-indent": ("  unit: 1", "  unit: 1\n [[fte]]: 3", ["YAML syntax"]),
    "yaml-tab": ("  unit: 1", "  unit: 1\n[[\t]]x: 2", ["tab character"]),
    "yaml-duplicate-key": ("  unit: 1", "  unit: 1\n  [[unit]]: 2", ["duplicate key"]),
    "parameter-without-description": ("    value: 0.90\n    description: Minimale realisatiegraad", "    [[value]]: 0.90", ["missing required key 'description'"]),
    "ruleset-id-upper-case": ("ruleset: lde", "ruleset: [[LDE]]", ["lower-case id"]),
    "parameter-bad-name": ("  min_realisation_rate:\n    value", "  [[Min-Rate]]:\n    value", ["'Min-Rate' is not allowed as a name"]),
    "derived-shadows-field": ("  assessment_sum:\n    description: Totaalscore", "  [[realisation_rate]]:\n    description: Totaalscore", ["cannot take this name", "a field of the facts"]),
    "derived-named-tier": ("  assessment_sum:\n    description: Totaalscore", "  [[tier]]:\n    description: Totaalscore", ["'tier' cannot take this name", "reserved"]),
    "budget-too-large": ("  fte: 10", "  fte: [[1000000000000]]", ["budget.fte", "must be <= 1000000"]),
    "unit-too-small": ("  unit: 1", "  unit: [[0.000001]]", ["budget.unit", "must be >= 0.001"]),
    "number-beyond-bounds": ("  fte: 10", "  fte: [[1e999999999]]", ["too large", "15 digits"]),
    "literal-too-long": ("    when: contingent_fte < 5", "    when: contingent_fte < [[5" + "0" * 5000 + "]]", ["too large", "15 digits"]),
    "arithmetic-chain-too-deep": ("    when: contingent_fte < 5", "    when: [[contingent_fte]]" + " + contingent_fte" * 210 + " < 5", ["nested more than 60 levels"]),
    "set-tag": ("  fte: 10", "  fte: [[!!set]] {10}", ["YAML tag", "not allowed"]),
    "version-with-newline": ('version: "2018.9"', 'version: [["2018.9\\n"]]', ["version", "must be a version"]),
    "step-unknown-kind": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - step: [[lottery]]\n", ["must be one of", "reserve"]),
    "step-key-of-another-step": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - step: greedy\n      [[amount]]: contingent_fte\n", ["'amount' does not apply to a greedy step", "reduce"]),
    "step-reserve-without-for": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - [[step]]: reserve\n      fte: 3\n", ["a reserve step needs 'for'"]),
    "step-reserve-fte-unknown-parameter": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - step: reserve\n      fte: [[params.reserve]]\n      for: province == \"Limburg\"\n", ["unknown parameter 'reserve'"]),
    "step-for-not-a-condition": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - step: greedy\n      for: [[contingent_fte + 1]]\n", ["'for' is a condition", "true or false"]),
    "step-pool-without-split": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - step: greedy\n    - step: [[pool]]\n      method: greedy\n", ["must follow a split"]),
    "step-split-bad-method": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - step: split\n      field: province\n      by: province\n      method: [[greedy]]\n", ["split step's method is one of hamilton"]),
    "step-with-method-form": ("allocation:\n  method: greedy\n", "allocation:\n  [[method]]: greedy\n  steps:\n    - step: greedy\n", ["'method' belongs to the one-method form"]),
    "step-minimum-half-unit": ("allocation:\n  method: greedy\n", "allocation:\n  steps:\n    - step: minimum\n      fte: [[1.5]]\n", ["not a whole number of units"]),
    "allocation-neither-method-nor-steps": ("allocation:\n  method: greedy\n", "[[allocation]]:\n", ["needs a 'method'", "or a list of 'steps'"]),
    "string-expression-number": ("    when: contingent_fte < 5", "    when: [[5]]", ["must be a text"]),
}

FACT_FAULTS = {
    "requested-zero": ("    requested_fte: 3", "    requested_fte: [[0]]", ["applicants[1] (id A-2).requested_fte", "must be >= 1"]),
    "requested-not-integer": ("    requested_fte: 3", "    requested_fte: [[2.5]]", ["requested_fte", "must be an integer"]),
    "province-misspelled": ("    province: Limburg", "    province: [[Limburgg]]", ["must be one of", "did you mean 'Limburg'"]),
    "missing-field": ("    realisation_rate: 0.91\n", "", ["missing required key 'realisation_rate'"]),
    "unknown-field": ("    requested_fte: 3", "    requested_fte: 3\n    [[requestd_fte]]: 3", ["unknown key 'requestd_fte'", "did you mean 'requested_fte'"]),
    "bad-date": ("    merged_on: 2016-02-01", "    merged_on: [[\"2016-02-30\"]]", ["merged_on", "must be a date"]),
    "duplicate-id": ("  - id: A-2", "  - id: [[A-1]]", ["duplicate applicant id 'A-1'"]),
    "score-too-high": ("{guidance_actions: 3,", "{guidance_actions: [[4]],", ["guidance_actions", "must be <= 3"]),
    "contingent-not-number": ("    contingent_fte: 3\n", "    contingent_fte: [[drie]]\n", ["contingent_fte", "must be a number, not 'drie'"]),
    "number-beyond-bounds": ("    contingent_fte: 7.5", "    contingent_fte: [[1e100000000]]", ["too large", "15 digits"]),
    "too-many-decimals": ("    realisation_rate: 0.91", "    realisation_rate: [[0.910000000000000000000001]]", ["too many decimals"]),
    "year-zero": ("    merged_on: 2016-02-01", "    merged_on: [[0000-01-01]]", ["merged_on", "date"]),
    "lone-surrogate": ("    name: Twee", "    name: \"Tw[[\\ud800]]ee\"", ["invalid Unicode character escape"]),
    "binary-tag": ("    name: Twee", "    name: [[!!binary]] VHdlZQ==", ["YAML tag", "not allowed"]),
    "merge-key": ("    name: Twee", "    [[<<]]: {name: Twee}", ["merge keys"]),
}

SHELTERED_FAULTS = {
    "bad-quarter": ("{quarter: 2016Q4,", "{quarter: [[2016-Q4]],", ["quarter", "must be a quarter such as 2016Q3"]),
    "region-missing": ("  Antwerpen: {work_disabled: 9800}\n", "", ["no entry for 'Antwerpen' under regions"], ("    province: Antwerpen", "    province: [[Antwerpen]]")),
    "duplicate-quarter": ("{quarter: 2016Q4,", "{quarter: [[2016Q3]],", ["'2016Q3' is given twice", "each quarter once",
                                                                  "quarters[1].quarter"]),
    "negative-filled": ("filled_fte: 96}\n      - {quarter: 2016Q4", "filled_fte: [[-1]]}\n      - {quarter: 2016Q4", ["filled_fte", "must be >= 0"]),
}


def place(base: str, find: str, marked: str) -> tuple[str, int, int]:
    assert find in base, find
    text = base.replace(find, marked, 1)
    start = text.index("[[")
    line = text.count("\n", 0, start) + 2  # +1 for 1-based, +1 for the header line written above
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return text.replace("[[", "").replace("]]", ""), line, col


def write(folder: str, name: str, base: str, fault: tuple, header_extra: str = "") -> None:
    find, marked, keywords = fault[:3]
    text = base.replace(find, marked, 1)
    if len(fault) > 3:
        text = text.replace(*fault[3], 1)
    if "[[" not in text:  # a removed line: the fault is reported at the mapping that lacks it
        text = text.replace("  - id: A-2", "  - [[id]]: A-2", 1)
    text, line, col = place(text, "[[", "[[")
    out = HERE / folder / f"{name}.yaml"
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"# expect: {line}:{col} | {' | '.join(keywords)}{header_extra}\n" + text, encoding="utf-8")


def main() -> None:
    for name, fault in RULE_FAULTS.items():
        write("rules", name, RULES, fault)
    for name, fault in FACT_FAULTS.items():
        write("facts", name, FACTS, fault, " | ruleset lde")
    for name, fault in SHELTERED_FAULTS.items():
        write("facts", "sheltered-" + name, SHELTERED, fault, " | ruleset sheltered-workshops")


if __name__ == "__main__":
    main()
