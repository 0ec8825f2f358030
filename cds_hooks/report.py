"""Acceptance and override rates of the cards, per engine and per finding, from the stored feedback.

Each stored feedback item counts once (identical re-posts were already merged when stored). An item is credited
to every finding and engine behind its card: a combined 'data needed' card built from two findings counts for
both. Items whose card uuid matched no audited hook call are counted as unlinked.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from cds_hooks.store import Store


@dataclass
class Rates:
    key: str
    total: int = 0
    accepted: int = 0
    overridden: int = 0
    override_reasons: Counter = field(default_factory=Counter)

    def add(self, row: dict) -> None:
        self.total += 1
        if row["outcome"] == "accepted":
            self.accepted += 1
        elif row["outcome"] == "overridden":
            self.overridden += 1
            self.override_reasons[reason_label(row)] += 1

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.total if self.total else 0.0

    @property
    def override_rate(self) -> float:
        return self.overridden / self.total if self.total else 0.0

    def as_dict(self) -> dict:
        out = asdict(self)
        out["acceptance_rate"] = round(self.acceptance_rate, 4)
        out["override_rate"] = round(self.override_rate, 4)
        out["override_reasons"] = dict(self.override_reasons.most_common())
        return out


def reason_label(row: dict) -> str:
    if row.get("override_code"):
        return f"{row.get('override_system') or ''}|{row['override_code']}"
    return "comment only" if row.get("has_user_comment") else "no reason given"


def build_report(rows: Iterable[dict], *, since: datetime | None = None) -> dict:
    engines: dict[str, Rates] = {}
    findings: dict[str, Rates] = {}
    overall = Rates("all")
    unlinked = Rates("unlinked")
    for row in rows:
        if since is not None and _utc(row["received_at"]) < _utc(since):
            continue
        overall.add(row)
        if not row.get("finding_ids"):
            unlinked.add(row)
            continue
        for engine_id in json.loads(row["engine_ids"] or "[]"):
            engines.setdefault(engine_id, Rates(engine_id)).add(row)
        for finding_id in json.loads(row["finding_ids"]):
            findings.setdefault(finding_id, Rates(finding_id)).add(row)
    return {
        "overall": overall.as_dict(),
        "unlinked": unlinked.as_dict(),
        "engines": [engines[k].as_dict() for k in sorted(engines)],
        "findings": [findings[k].as_dict() for k in sorted(findings)],
    }


def feedback_report(store: Store, *, service_id: str | None = None, since: datetime | None = None) -> dict:
    return build_report(store.feedback_rows(service_id=service_id), since=since)


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back naive (they were stored in UTC); PostgreSQL hands them back aware.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def format_text(report: dict) -> str:
    lines = []
    header = f"{'':44} {'items':>6} {'accepted':>9} {'overridden':>11} {'accept %':>9} {'override %':>11}"

    def row(rates: dict) -> str:
        return (f"{rates['key'][:44]:44} {rates['total']:>6} {rates['accepted']:>9} {rates['overridden']:>11} "
                f"{rates['acceptance_rate'] * 100:>9.1f} {rates['override_rate'] * 100:>11.1f}")

    for title, group in (("Engines", report["engines"]), ("Findings", report["findings"])):
        lines += [title, header] + [row(r) for r in group] + [""]
    lines += [row(report["overall"]), row(report["unlinked"]) + "   (card not found in the audit trail)"]
    reasons = report["overall"]["override_reasons"]
    if reasons:
        lines += ["", "Override reasons (all engines)"] + [f"  {count:>5}  {label}" for label, count in reasons.items()]
    return "\n".join(lines)
