"""patient-view: the trained tabular model (UCI heart-disease demonstration) as a CDS service.

It shows how a model trained with ``precision-cds models train`` becomes an engine: its finding carries the
model id, version, weights checksum and score (the card: the score once and each input's contribution; the ids are
on the explainer page). The bundled model is a demonstration, not for clinical use, and
the service says so in its discovery entry. It is off unless ``CDS_ENABLE_DEMO_MODEL=true``: out of discovery and 404.
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service


@service(
    id="heart-disease-model-demo",
    hook="patient-view",
    title="Heart-disease model (demonstration, not for clinical use)",
    description=(
        "Scores the patient with the registered trained model (default: an MLP trained on the UCI Heart Disease "
        "data, AUROC 0.70 on its test split and 0.50-0.72 at a hospital left out of training); the card names each "
        "input's contribution, and gives a range, not a number, when an input is missing. "
        "A demonstration of the training pipeline, not a validated clinical score."
    ),
    engines=("trained-tabular-model",),
    enabled_by="ENABLE_DEMO_MODEL",
    usage_requirements="Demonstration only: not for clinical decisions. Point CDS_MODEL_DIR_TRAINED at a model "
                       "you trained and validated to use your own.",
)
def heart_disease_model_demo(call: HookCall):
    return call.run_engines()
