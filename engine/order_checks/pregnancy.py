"""Drugs contraindicated (or to be stopped) in pregnancy, checked when they are ordered for a pregnant patient
(engine/data/order_pregnancy.json: ACE inhibitors, ARBs, ARNI and aliskiren; warfarin; statins). Pregnancy is the
project's ``pregnant`` feature (problem list, pregnancy status or a pregnancy test, whichever is newest). The
suggestions cancel the draft, for an alternative where the data names one (labetalol or nifedipine for blood
pressure).
"""
from __future__ import annotations

from typing import Any

from engine.clinical_record import DraftOrder
from engine.finding import Citation, Finding
from engine.inputs import FeatureSet
from engine.order_checks.common import OrderCheck, cancel, citation_of, drug_name, load_data
from engine.registry import order_check

DATA_FILE = "order_pregnancy.json"


def knowledge() -> dict[str, Any]:
    return load_data(DATA_FILE)


@order_check
class PregnancyContraindication(OrderCheck):
    id = "pregnancy-contraindication"
    version = "1.0.0"
    title = "Drafted drug in pregnancy"
    citation = Citation(short="Drug labels and guidelines (pregnancy)",
                        full="The labels and guidelines named per class in engine/data/order_pregnancy.json.",
                        topic="Pregnancy")
    optional = ("pregnant",)

    def check(self, draft: DraftOrder, features: FeatureSet) -> list[Finding]:
        pregnant = features.get("pregnant")
        if pregnant is None or pregnant.value is not True:
            return []
        out = []
        for entry in knowledge()["classes"]:
            if not set(draft.classes) & set(entry["classes"]):
                continue
            citation = citation_of(entry["citation"])
            name = drug_name(draft)
            day = f", {str(pregnant.effective)[:10]}" if pregnant.effective else ""
            trigger = f"pregnant ({pregnant.note or 'recorded'}{day})"
            reason = f"{citation.short}: {entry['title']} in pregnancy - {entry['effect']}; {entry['management']}"
            out.append(self.order_finding(
                draft, rule=f"pregnancy:{entry['id']}", trigger=trigger, title=f"{name.capitalize()} in pregnancy",
                verdict=entry["verdict"], severity=entry["severity"], citation=citation, features=features,
                message=f"{entry['title'][0].upper()}{entry['title'][1:]} in pregnancy: {entry['effect']} "
                        f"({citation.short}). {entry['management'][0].upper()}{entry['management'][1:]}.",
                suggestions=cancel(draft, reason=reason, alternatives=entry.get("alternatives", ())),
                inputs=(pregnant,), method=f"pregnancy class '{entry['id']}'", strength="label / guideline"))
        return out
