"""scikit-learn beside gradlab on the same prepared table (a reference, not a test of the suite).

gradlab prepares the table and writes the splits it trains on:

    gradlab train --csv target/data/adult.csv.gz --positive '>50K' --sensitive sex \
        --products 'age*hours_per_week' --save-data /tmp/adult.safetensors --json

then, in any Python with numpy, safetensors and scikit-learn (never a dependency of the app):

    python tests/python/tabular_sklearn.py /tmp/adult.safetensors

fits `MLPClassifier` (one hidden layer of 128 ReLU units, Adam 1e-3, batch 32, 10 epochs, no
L2 — scikit-learn has no dropout, the one difference from essay 003's network) and
`LogisticRegression` on exactly those features and that split, and prints their test accuracy,
AUC and per-group accuracy as JSON lines.
"""

import json
import sys
import warnings

import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.neural_network import MLPClassifier


def main(path):
    d = load_file(path)
    with safe_open(path, "np") as f:
        groups = json.loads(f.metadata()["groups"])
    x_train, y_train = d["x_train"], d["y_train"].astype(int)
    x_test, y_test = d["x_test"], d["y_test"].astype(int)
    g = d["group_test"].astype(int)
    models = {
        "sklearn MLPClassifier(128)": MLPClassifier(
            hidden_layer_sizes=(128,), solver="adam", learning_rate_init=1e-3, batch_size=32,
            max_iter=10, alpha=0.0, random_state=1, shuffle=True),
        "sklearn LogisticRegression": LogisticRegression(max_iter=2000),
    }
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
        p = model.predict_proba(x_test)[:, 1]
        pred = (p >= 0.5).astype(int)
        per_group = {groups[k]: float(accuracy_score(y_test[g == k], pred[g == k])) for k in range(len(groups)) if (g == k).any()}
        print(json.dumps({
            "model": name,
            "test_accuracy": float(accuracy_score(y_test, pred)),
            "auc": float(roc_auc_score(y_test, p)),
            "group_accuracy": per_group,
            "mean_group_accuracy": float(np.mean(list(per_group.values()))),
        }))


if __name__ == "__main__":
    main(sys.argv[1])
