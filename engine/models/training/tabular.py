"""A small torch MLP for tabular data, and the same network evaluated with numpy.

Architecture: inputs -> Linear(hidden) -> ReLU -> Dropout -> Linear(1) -> sigmoid. Trained with
AdamW and binary cross-entropy in shuffled mini-batches, with early stopping on a validation slice
of the training split (after a short warm-up, so a lucky first epoch on a small slice is not kept). Seeds fix torch's initialisation and the
validation slice, so the same data and seed give the same weights on the same platform.

Weights are saved with safetensors (no pickle). Scoring at service time uses
:func:`mlp_predict_numpy`, which needs neither torch nor scikit-learn; a test checks that it
matches the torch forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_FILE = "model.safetensors"


@dataclass
class MLPConfig:
    hidden: int = 16
    dropout: float = 0.1
    lr: float = 0.01
    weight_decay: float = 1e-3
    max_epochs: int = 300
    patience: int = 30
    warmup_epochs: int = 10  # a tiny validation slice is noisy: never keep the near-random first epochs
    batch_size: int = 64
    validation_fraction: float = 0.15
    seed: int = 0


def train_mlp(x: np.ndarray, y: np.ndarray, config: MLPConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the MLP; returns numpy weights and a training log (epochs, best validation loss)."""
    from engine.models.loader import import_torch

    torch = import_torch()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    idx = rng.permutation(len(y))
    n_val = max(1, int(round(len(y) * config.validation_fraction))) if len(y) >= 20 else 0
    val_idx, fit_idx = idx[:n_val], idx[n_val:]
    xt = torch.tensor(x[fit_idx], dtype=torch.float32)
    yt = torch.tensor(y[fit_idx], dtype=torch.float32)
    xv = torch.tensor(x[val_idx], dtype=torch.float32)
    yv = torch.tensor(y[val_idx], dtype=torch.float32)

    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], config.hidden), torch.nn.ReLU(), torch.nn.Dropout(config.dropout),
        torch.nn.Linear(config.hidden, 1),
    )
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best_loss, best_state, best_epoch, waited = float("inf"), None, 0, 0
    epoch = 0
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        order = torch.randperm(len(yt), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(model(xt[batch]).squeeze(1), yt[batch])
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.inference_mode():
            val_loss = float(loss_fn(model(xv if n_val else xt).squeeze(1), yv if n_val else yt))
        if epoch < config.warmup_epochs:
            continue
        if val_loss < best_loss - 1e-5:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    weights = {
        "hidden.weight": model[0].weight.detach().numpy().copy(),
        "hidden.bias": model[0].bias.detach().numpy().copy(),
        "output.weight": model[3].weight.detach().numpy().copy(),
        "output.bias": model[3].bias.detach().numpy().copy(),
    }
    return weights, {"epochs_run": epoch, "best_epoch": best_epoch, "best_validation_loss": best_loss,
                     "fit_rows": int(len(fit_idx)), "validation_rows": int(n_val)}


def mlp_predict_torch(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    from engine.models.loader import import_torch

    torch = import_torch()
    with torch.inference_mode():
        h = torch.relu(torch.tensor(x) @ torch.tensor(weights["hidden.weight"]).T + torch.tensor(weights["hidden.bias"]))
        z = h @ torch.tensor(weights["output.weight"]).T + torch.tensor(weights["output.bias"])
        return torch.sigmoid(z).squeeze(1).numpy()


def mlp_predict_numpy(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Probability of the positive class; dropout is inactive at inference, as in eval mode."""
    h = np.maximum(0.0, x @ weights["hidden.weight"].T + weights["hidden.bias"])
    z = (h @ weights["output.weight"].T + weights["output.bias"])[:, 0]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def save_weights(weights: dict[str, np.ndarray], directory: Path) -> Path:
    from safetensors.numpy import save_file

    path = directory / WEIGHTS_FILE
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}, str(path))
    return path


def load_weights(directory: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(directory / WEIGHTS_FILE))


def train_logistic(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """The baseline: L2-regularised logistic regression on the same preprocessed features."""
    from engine.models.training import require

    clf = require("sklearn.linear_model", "scikit-learn").LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    clf.fit(x, y)
    return {"coef": clf.coef_[0].astype(float).tolist(), "intercept": float(clf.intercept_[0])}


def logistic_predict(params: dict, x: np.ndarray) -> np.ndarray:
    z = x @ np.asarray(params["coef"]) + params["intercept"]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
