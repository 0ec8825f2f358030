"""Training: preprocess -> train (torch model + logistic-regression baseline) -> evaluate -> model card.

Entry point: :func:`engine.models.training.pipeline.train`. numpy / scikit-learn / torch /
matplotlib are imported inside functions so that importing the engine stays cheap.
"""
