"""Acceptance and override rates of the cards, per engine and per finding (rule), overall and over time, the override
reasons, and the rules whose override rate passes a threshold (candidates to retire or retune), from the stored
feedback; and what the feedback hid (suppressions made, and how many came back because the inputs changed).

A card's answer counts once: the stored items about one card uuid with the same outcome and reason (re-posts
with another timestamp, or with only another comment, stored before re-posts were merged) are one item. An item is
credited to every rule and engine behind its card: a combined 'data needed' card built from two findings counts for
both. The "findings" of the report are rules: a finding id, except for the order-time checks, whose finding ids name
the drafted order and are counted per rule without it (engine/rule_ids.py). Items whose card uuid matched no audited
hook call (feedback stored before feedback was bound to issued cards) are counted as unlinked. Text here; the HTML
page with plots is cds_hooks/report_html.py.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from cards.fhir import OVERRIDE_REASON_SYSTEM
from cds_hooks.store import Store, utc
from cds_hooks.suppression.policy import REASON_DISPLAYS
from engine.rule_ids import rule_id_of

PERIODS = ("month", "week")
DEFAULT_THRESHOLD = 0.5  # an override rate at or above this flags the rule...
DEFAULT_MIN_ITEMS = 10  # ...when it rests on at least this many items


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
        return {"key": self.key, "total": self.total, "accepted": self.accepted, "overridden": self.overridden,
                "override_reasons": dict(self.override_reasons.most_common()),
                "acceptance_rate": round(self.acceptance_rate, 4), "override_rate": round(self.override_rate, 4)}


def reason_label(row: dict) -> str:
    if row.get("override_code"):
        return f"{row.get('override_system') or ''}|{row['override_code']}"
    return "comment only" if row.get("has_user_comment") else "no reason given"


def reason_text(label: str) -> str:
    """'urn:precision-cds:override-reason|patient-declined' → 'Patient declined (patient-declined)'."""
    system, _, code = label.rpartition("|")
    if system == OVERRIDE_REASON_SYSTEM and code in REASON_DISPLAYS:
        return f"{REASON_DISPLAYS[code]} ({code})"
    return label


def period_of(moment: datetime, period: str) -> str:
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{moment.year}-{moment.month:02d}"


def build_report(rows: Iterable[dict], *, since: datetime | None = None, period: str = "month",
                 threshold: float = DEFAULT_THRESHOLD, min_items: int = DEFAULT_MIN_ITEMS,
                 suppressions: Iterable[dict] = ()) -> dict:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    engines: dict[str, Rates] = {}
    findings: dict[str, Rates] = {}
    overall = Rates("all")
    unlinked = Rates("unlinked")
    timeline: dict[str, dict[str, dict[str, Rates]]] = {"overall": {}, "engines": {}, "findings": {}}
    counted: set[tuple] = set()
    for row in rows:
        received = utc(row["received_at"])
        if since is not None and received < utc(since):
            continue
        answer = answer_of(row)
        if answer is not None:
            if answer in counted:
                continue
            counted.add(answer)
        bucket = period_of(received, period)
        overall.add(row)
        timeline["overall"].setdefault("all", {}).setdefault(bucket, Rates(bucket)).add(row)
        if not row.get("finding_ids"):
            unlinked.add(row)
            continue
        rules = dict.fromkeys(rule_id_of(f) for f in json.loads(row["finding_ids"]))
        for level, ids, totals in (("engines", dict.fromkeys(json.loads(row["engine_ids"] or "[]")), engines),
                                   ("findings", rules, findings)):
            for key in ids:
                totals.setdefault(key, Rates(key)).add(row)
                timeline[level].setdefault(key, {}).setdefault(bucket, Rates(bucket)).add(row)
    candidates = [
        {"level": level[:-1], **rates.as_dict()}
        for level, group in (("engines", engines), ("findings", findings))
        for rates in sorted(group.values(), key=lambda r: (-r.override_rate, r.key))
        if rates.total >= min_items and rates.override_rate >= threshold
    ]
    return {
        "overall": overall.as_dict(),
        "unlinked": unlinked.as_dict(),
        "engines": [engines[k].as_dict() for k in sorted(engines)],
        "findings": [findings[k].as_dict() for k in sorted(findings)],
        "period": period,
        "over_time": {level: {key: [by_period[b].as_dict() for b in sorted(by_period)]
                              for key, by_period in sorted(keys.items())}
                      for level, keys in timeline.items()},
        "threshold": {"override_rate": threshold, "min_items": min_items},
        "candidates": candidates,
        "suppressions": suppression_counts(suppressions, since=since),
    }


def answer_of(row: dict) -> tuple | None:
    """What makes two stored items one answer: the client, the card and the outcome with its reason."""
    if not row.get("card_uuid"):
        return None
    return (row.get("service_id"), row.get("issuer"), row.get("tenant"), str(row["card_uuid"]).lower(),
            row["outcome"], reason_label(row) if row["outcome"] == "overridden" else None)


def suppression_counts(rows: Iterable[dict], *, since: datetime | None = None) -> list[dict]:
    """Per rule: suppressions made (by reason) and how they ended (came back changed, no longer offered)."""
    per: dict[str, dict] = {}
    cutoff = utc(since).timestamp() if since is not None else None
    for row in rows:
        if cutoff is not None and float(row["created_at"]) < cutoff:
            continue
        for finding_id in dict.fromkeys(rule_id_of(f) for f in json.loads(row.get("finding_ids") or "[]")):
            entry = per.setdefault(finding_id, {"key": finding_id, "made": 0, "reasons": Counter(),
                                                "lifted": Counter()})
            entry["made"] += 1
            entry["reasons"][row["reason_code"]] += 1
            if row.get("lifted_because"):
                entry["lifted"][row["lifted_because"]] += 1
    return [{"key": k, "made": v["made"], "reasons": dict(v["reasons"].most_common()),
             "lifted": dict(v["lifted"].most_common())} for k, v in sorted(per.items())]


def feedback_report(store: Store, *, service_id: str | None = None, since: datetime | None = None,
                    period: str = "month", threshold: float = DEFAULT_THRESHOLD,
                    min_items: int = DEFAULT_MIN_ITEMS) -> dict:
    """The report of what the store holds; ``since`` (naive: UTC) is applied by the database, not by reading every
    row."""
    return build_report(store.feedback_rows(service_id=service_id, since=since), since=since, period=period,
                        threshold=threshold, min_items=min_items,
                        suppressions=store.suppression_rows(service_id=service_id, since=since))


def format_text(report: dict) -> str:
    lines = []
    header = f"{'':44} {'items':>6} {'accepted':>9} {'overridden':>11} {'accept %':>9} {'override %':>11}"

    def row(rates: dict, key: str | None = None) -> str:
        return (f"{(key or rates['key'])[:44]:44} {rates['total']:>6} {rates['accepted']:>9} {rates['overridden']:>11} "
                f"{rates['acceptance_rate'] * 100:>9.1f} {rates['override_rate'] * 100:>11.1f}")

    for title, group in (("Engines", report["engines"]), ("Rules (findings)", report["findings"])):
        lines += [title, header] + [row(r) for r in group] + [""]
    lines += [row(report["overall"]), row(report["unlinked"]) + "   (card not found in the audit trail)"]
    reasons = report["overall"]["override_reasons"]
    if reasons:
        lines += ["", "Override reasons (all engines)"]
        lines += [f"  {count:>5}  {reason_text(label)}" for label, count in reasons.items()]
    over_time = report.get("over_time") or {}
    for level, title in (("engines", "Engines"), ("findings", "Rules")):
        if over_time.get(level):
            lines += ["", f"{title} by {report['period']}", header]
            for key, periods in over_time[level].items():
                # The period always shows: a long rule id is clipped before it.
                lines += [row(p, f"{key[:43 - len(p['key'])]} {p['key']}") for p in periods]
    threshold = report.get("threshold")
    if threshold:
        lines += ["", f"Candidates to retire or retune (override rate >= {threshold['override_rate'] * 100:.0f} % "
                      f"over >= {threshold['min_items']} items)"]
        candidates = report.get("candidates") or []
        lines += [row(c, f"{c['level']} {c['key']}") for c in candidates] or ["  none"]
    if report.get("suppressions"):
        lines += ["", "Suppressions made by feedback (per rule)"]
        for s in report["suppressions"]:
            lifted = ", ".join(f"{n} {why}" for why, n in s["lifted"].items()) or "none lifted"
            lines.append(f"  {s['key'][:44]:44} {s['made']:>5} made; {lifted}")
    return "\n".join(lines)
