"""order-select and order-sign: safety checks of the orders being drafted (docs/order-checks.md).

Both services run the same order-time checks (engine/order_checks): renal dosing and contraindication by eGFR or
Cockcroft-Gault creatinine clearance, drug-drug interactions (ONC high-priority list, warfarin with an NSAID), drug
allergy and cross-reactivity, duplicate therapy, pregnancy, and a DOAC with a mechanical heart valve or (in atrial
fibrillation) mitral stenosis. On order-select only the drafts the clinician just selected are checked (the other
drafts still count, e.g. for interactions between drafts); on order-sign every draft is. The prefetch follows from
the checks' declarations: kidney function, weight, age and sex, the problem list (atrial fibrillation, pregnancy,
heart valves), the medication list and the allergies. An alert shown for a draft is not shown again for the same
draft and rule (cds_hooks/alert_memory.py), so order-sign does not repeat what order-select said.
"""
from __future__ import annotations

from cds_hooks.alert_memory import first_alerts
from cds_hooks.declaration import HookCall, service
from engine.order_checks import ORDER_CHECKS

_CHECKS = ("renal dosing and contraindication by eGFR or Cockcroft-Gault creatinine clearance (metformin, DOACs, "
           "enoxaparin, nitrofurantoin, gabapentin), drug interactions (ONC high-priority list; warfarin with a "
           "systemic NSAID), drug allergy and beta-lactam cross-reactivity, duplicate therapy, drugs to avoid in "
           "pregnancy and a DOAC with a mechanical heart valve or, in atrial fibrillation, mitral stenosis; each "
           "card names its rule, source and the value that triggered it, and offers to change or cancel the drafted "
           "order.")


@service(
    id="order-select-safety",
    hook="order-select",
    title="Order safety checks on selection",
    description="When a drug is selected for ordering, checks the selected drafts: " + _CHECKS,
    engines=ORDER_CHECKS,
)
def order_select_safety(call: HookCall):
    return first_alerts(call, call.run_engines())


@service(
    id="order-sign-safety",
    hook="order-sign",
    title="Order safety checks before signing",
    description="Before the orders are signed, checks every drafted order: " + _CHECKS + " An alert already shown "
                "at selection is not repeated.",
    engines=ORDER_CHECKS,
)
def order_sign_safety(call: HookCall):
    return first_alerts(call, call.run_engines())
