"""Facts between formats: YAML, JSON and XLSX, both ways; and an empty workbook for a ruleset."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..rules.checker import applicant_schema, region_schema
from ..rules.compile import Ruleset
from ..errors import InputError, Location
from ..rules.expr import format_decimal
from ..rules.facts import format_of, load_data, read_facts_bytes
from ..rules.validate import json_view
from ..rules.template import template_workbook
from ..rules.xlsx import facts_workbook, read_facts_workbook


def read_any(source: str | Path) -> Any:
    """The plain data of a facts file in any of the three formats."""
    raw, fmt = read_facts_bytes(source)
    label = "<stdin>" if str(source) == "-" else str(source)
    if fmt == "xlsx":
        return read_facts_workbook(raw, label).data
    return load_data(raw, label, fmt)[0]


def convert(source: str | Path, target: str | Path) -> bytes:
    """The facts in ``source`` written in the format of ``target``'s extension."""
    data = read_any(source)
    kind = format_of(str(target), b"-")
    name = str(target).lower()
    if name.endswith((".xlsx", ".xlsm")):
        return facts_workbook(data)
    if name.endswith(".json"):
        from ..decide.decision import to_json_bytes

        return to_json_bytes(json_view(data)) + b"\n"
    if name.endswith((".yaml", ".yml")):
        return dump_yaml(data)
    raise InputError.at(Location(str(target)), f"cannot tell the format of '{target}' ({kind}?): give it the "
                        "extension .yaml, .json or .xlsx")


def dump_yaml(data: Any) -> bytes:
    """Facts as block YAML; numbers exactly as they are, dates as dates."""
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class Representer(RoundTripRepresenter):
        pass

    Representer.add_representer(Decimal, lambda r, d: r.represent_scalar("tag:yaml.org,2002:float", format_decimal(d)))
    Representer.add_representer(dt.date, lambda r, d: r.represent_scalar("tag:yaml.org,2002:timestamp", d.isoformat()))
    yaml = YAML()
    yaml.Representer = Representer
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(_plain(data), out)
    return out.getvalue().encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def template(ruleset: Ruleset, lang: str = "nl") -> bytes:
    """An empty facts workbook for the ruleset's facts schema, with its columns' names in ``lang``."""
    regions = list(region_schema(ruleset.facts_schema).get("properties", {}))
    return template_workbook(ruleset.facts_schema, applicant_schema(ruleset.facts_schema), regions, lang)
