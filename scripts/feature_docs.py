#!/usr/bin/env python
"""Write the feature tables of docs/features.md from the feature catalogue (engine/feature_catalog.py).

    python scripts/feature_docs.py          # rewrite the generated tables in docs/features.md
    python scripts/feature_docs.py --check  # exit 1 when docs/features.md is out of date

Each table sits between ``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->``; the text around the
tables is written by hand. tests/adapter/test_feature_spec.py fails while the document differs from what this
script would write, so a change to a feature's declaration or to its Observation codes reaches the docs.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.feature_catalog import COMPONENT_MEASURES, FEATURE_SPECS, FEATURES, FeatureSpec  # noqa: E402
from fhir_adapter.codes import LOINC, OBSERVATION_CONCEPTS, value_set  # noqa: E402

DOC = ROOT / "docs" / "features.md"
_SYSTEM_NAMES = {LOINC: "", "http://snomed.info/sct": "SNOMED "}


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "–"


def _days(days: int) -> str:
    return f"{days // 365} y" if days % 365 == 0 else f"{days} d"


def _number(value: float) -> str:
    return f"{value:g}"


def _observation_codes(concepts) -> str:
    codes: list[str] = []
    for concept in concepts:
        if concept not in OBSERVATION_CONCEPTS:
            continue
        for code in value_set(concept).codes:
            shown = f"{_SYSTEM_NAMES.get(code.system, code.system + ' ')}{code.code}"
            if shown not in codes:
                codes.append(shown)
    return ", ".join(codes)


def read_from(spec: FeatureSpec) -> str:
    parts: list[str] = []
    for resource in spec.resources:
        if resource == "Observation":
            own = _observation_codes(spec.value_sets)
            panels = _observation_codes(spec.panel_value_sets)
            text = f"Observation {own}".strip()
            if panels:
                text += f" or a component of {panels}"
            parts.append(text)
        else:
            parts.append(resource)
    text = ", ".join(parts)
    other_sets = [f"`{c}`" for c in spec.value_sets if c not in OBSERVATION_CONCEPTS]
    if other_sets:
        text += f"; value sets {', '.join(other_sets)}"
    if spec.depends_on:
        text += f"; else derived from {', '.join(f'`{name}`' for name in spec.depends_on)}"
    return text


def window(spec: FeatureSpec) -> str:
    if spec.lookback_days is None:
        return ""
    text = _days(spec.lookback_days)
    if spec.history_days is not None and spec.history_days > spec.lookback_days:
        text += f" (history {_days(spec.history_days)})"
    return text


def plausible(spec: FeatureSpec) -> str:
    if spec.plausible is None:
        return ""
    low, high = spec.plausible
    return f"{_number(low)}–{_number(high)}"


def feature_table() -> str:
    rows = ["| Feature | Label | Unit | Kind | Read from | Look-back | Plausible | Decimals | Notes |",
            "|---|---|---|---|---|---|---|---|---|"]
    for spec in FEATURES:
        decimals = "" if spec.display_decimals is None else str(spec.display_decimals)
        rows.append(" | ".join((f"| `{spec.name}`", _cell(spec.label), _cell(spec.unit or ""), spec.kind,
                                _cell(read_from(spec)), _cell(window(spec)), _cell(plausible(spec)),
                                _cell(decimals), _cell(spec.note))) + " |")
    return "\n".join(rows)


def component_table() -> str:
    rows = ["| Measure | Unit | Accepted range |", "|---|---|---|"]
    for spec in COMPONENT_MEASURES:
        rows.append(f"| {spec.label} (`{spec.name}`) | {_cell(spec.unit or '')} | {_cell(plausible(spec))} |")
    return "\n".join(rows)


TABLES = {"feature-table": feature_table, "component-measures": component_table}


def render(text: str) -> str:
    """``text`` with every generated table rewritten."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- BEGIN generated: {name} [^\n]*-->\n)(?:.*?\n)?(<!-- END generated: {name} -->)",
                             re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"docs/features.md has no generated block {name!r}")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/features.md is out of date")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("docs/features.md is out of date: run python scripts/feature_docs.py", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted, encoding="utf-8")
        print(f"updated {DOC.relative_to(ROOT)} ({len(FEATURE_SPECS)} features)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
