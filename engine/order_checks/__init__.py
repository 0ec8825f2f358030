"""Order-time checks: the engines of the order-select and order-sign services (see docs/order-checks.md).

They read the drafted orders (``FeatureSet.draft_orders``, ``engine.clinical_record.DraftOrder``) against the record -
kidney function, the medication list, allergies, pregnancy, conditions that rule a drug out (a mechanical heart valve)
- and answer only when something is wrong, each finding about one draft and one rule, with suggestions that change or
cancel the draft. Importing this package registers them (``engine.registry.order_checks``).
"""
from engine.order_checks import (  # noqa: F401
    allergy,
    contraindications,
    duplicates,
    interactions,
    pregnancy,
    renal_dosing,
)

ORDER_CHECKS = ("renal-dosing", "drug-interactions", "drug-allergy", "duplicate-therapy", "pregnancy-contraindication",
                "condition-contraindication")
