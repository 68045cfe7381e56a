"""The digits demonstration of ``python -m marginloss demo`` (needs scikit-learn).

A ``Pipeline(StandardScaler, MultiMarginClassifier)`` tuned by a small grid
search on scikit-learn's digits (no download), against
``LinearSVC(multi_class="crammer_singer")`` and ``LogisticRegression`` on the
same split: held-out accuracy and fit time of each final model.
"""

import sys
import time
import warnings

import numpy as np


def run(stdout=None, stderr=None):
    """Print the comparison table; return the rows ``(name, accuracy, fit seconds)``.

    Parameters
    ----------
    stdout, stderr : file, default=sys.stdout, sys.stderr
        Where the table and the progress lines go.

    Returns
    -------
    rows : list of (str, float, float)
    """
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from marginloss.sklearn import MultiMarginClassifier

    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y)

    search = GridSearchCV(
        make_pipeline(StandardScaler(), MultiMarginClassifier()),
        {"multimarginclassifier__alpha": [1e-3, 1e-2, 1e-1]}, cv=3)
    print("  tuning alpha of MultiMarginClassifier by 3-fold grid search (9 fits) ...",
          file=stderr, flush=True)
    start = time.perf_counter()
    search.fit(X_train, y_train)
    print(f"  ... done in {time.perf_counter() - start:.2f} s", file=stderr, flush=True)
    alpha = search.best_params_["multimarginclassifier__alpha"]

    models = [
        (f"MultiMarginClassifier (alpha={alpha:g})",
         make_pipeline(StandardScaler(), MultiMarginClassifier(alpha=alpha))),
        ("LinearSVC(multi_class='crammer_singer')",
         make_pipeline(StandardScaler(), LinearSVC(multi_class="crammer_singer"))),
        ("LogisticRegression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
    ]
    rows = []
    for name, model in models:
        print(f"  fitting {name} ...", file=stderr, flush=True)
        times = []
        for _ in range(5):  # the median of 5 fits: single fits of ~0.1 s are noisy
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train, y_train)
            times.append(time.perf_counter() - start)
        rows.append((name, model.score(X_test, y_test), float(np.median(times))))

    print(f"\nDigits ({X_train.shape[0]} training, {X_test.shape[0]} held-out samples, "
          f"{X.shape[1]} features, 10 classes), StandardScaler first:", file=stdout)
    print(f"  {'model':42s} {'held-out accuracy':>17s} {'fit time':>10s}", file=stdout)
    for name, accuracy, seconds in rows:
        print(f"  {name:42s} {accuracy:17.4f} {1e3 * seconds:8.1f} ms", file=stdout)
    ours, svc = rows[0], rows[1]
    gap = 100 * (svc[1] - ours[1])
    print(f"  accuracy within 1.0 point of LinearSVC's: {'yes' if gap <= 1.0 else 'NO'} "
          f"({100 * ours[1]:.2f}% against {100 * svc[1]:.2f}%)", file=stdout)
    print(f"  fit time no worse than LinearSVC's: {'yes' if ours[2] <= svc[2] else 'NO'} "
          f"({1e3 * ours[2]:.1f} ms against {1e3 * svc[2]:.1f} ms)", file=stdout)
    return rows
