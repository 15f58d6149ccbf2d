"""Plausible wrong answers for week03; each must lose points (grader_tests/test_mutants.py)."""


def _train(update_w="w - lr * gw", update_b="b - lr * gb", init="np.zeros(X.shape[1])", record="before"):
    loss_before = "        losses[k] = bce_loss(w, b, X, y)\n" if record == "before" else ""
    loss_after = "        losses[k] = bce_loss(w, b, X, y)\n" if record == "after" else ""
    return (
        "def train_logistic(X, y, lr, n_steps):\n"
        "    X = np.asarray(X, dtype=float)\n"
        f"    w, b = {init}, 0.0\n"
        "    losses = np.empty(n_steps)\n"
        "    for k in range(n_steps):\n"
        + loss_before +
        "        gw, gb = bce_gradient(w, b, X, y)\n"
        f"        w, b = {update_w}, {update_b}\n"
        + loss_after +
        "    return w, b, losses\n"
    )


def _mlp(delta_a="np.outer(dz, w2) * (a > 0)", grad_W1="X.T @ da", grad_b1="da.sum(axis=0)", scale="/ n"):
    return f'''
def mlp_loss_and_gradients(params, X, y):
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    W1, b1, w2, b2 = params["W1"], params["b1"], params["w2"], params["b2"]
    n = len(y)
    a = X @ W1 + b1
    h = np.maximum(a, 0.0)
    z = h @ w2 + b2
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    dz = (np.exp(-np.logaddexp(0.0, -z)) - y) {scale}
    da = {delta_a}
    return loss, {{"W1": {grad_W1}, "b1": {grad_b1}, "w2": h.T @ dz, "b2": float(dz.sum())}}
'''


MUTANTS = {
    "bce_loss": [
        # the sum instead of the mean
        "def bce_loss(w, b, X, y):\n    z = np.asarray(X) @ w + b\n    return float(np.sum(np.logaddexp(0.0, z) - y * z))",
        # the textbook formula: log(0) = -inf for |z| = 800
        "def bce_loss(w, b, X, y):\n    p = 1 / (1 + np.exp(-(np.asarray(X) @ w + b)))\n"
        "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))",
        # labels swapped
        "def bce_loss(w, b, X, y):\n    z = np.asarray(X) @ w + b\n    return float(np.mean(np.logaddexp(0.0, z) - (1 - y) * z))",
        # sign of z wrong
        "def bce_loss(w, b, X, y):\n    z = np.asarray(X) @ w + b\n    return float(np.mean(np.logaddexp(0.0, -z) - y * z))",
    ],
    "bce_gradient": [
        # forgot the 1/n of the mean
        "def bce_gradient(w, b, X, y):\n    X = np.asarray(X, dtype=float)\n"
        "    e = np.exp(-np.logaddexp(0.0, -(X @ w + b))) - y\n    return X.T @ e, float(e.sum())",
        # wrong sign: y - p
        "def bce_gradient(w, b, X, y):\n    X = np.asarray(X, dtype=float)\n"
        "    e = y - np.exp(-np.logaddexp(0.0, -(X @ w + b)))\n    return X.T @ e / len(y), float(e.mean())",
        # the squared-error gradient (extra factor p (1 - p))
        "def bce_gradient(w, b, X, y):\n    X = np.asarray(X, dtype=float)\n"
        "    p = np.exp(-np.logaddexp(0.0, -(X @ w + b)))\n    e = (p - y) * p * (1 - p)\n"
        "    return X.T @ e / len(y), float(e.mean())",
        # bias gradient without the mean over events
        "def bce_gradient(w, b, X, y):\n    X = np.asarray(X, dtype=float)\n"
        "    e = np.exp(-np.logaddexp(0.0, -(X @ w + b))) - y\n    return X.T @ e / len(y), float(e.sum())",
    ],
    "train_logistic": [
        # gradient ascent
        _train(update_w="w + lr * gw", update_b="b + lr * gb"),
        # the bias is never trained
        _train(update_b="b"),
        # loss recorded after the update (off by one step)
        _train(record="after"),
        # random initialisation instead of zeros
        _train(init="np.random.default_rng(0).normal(size=X.shape[1])"),
    ],
    "llr": [
        # log p_b - log p_s
        "def log_likelihood_ratio(X, mu_b, mu_s, cov):\n    d = np.linalg.solve(cov, mu_s - mu_b)\n"
        "    c = -0.5 * (mu_s @ np.linalg.solve(cov, mu_s) - mu_b @ np.linalg.solve(cov, mu_b))\n"
        "    return -(np.asarray(X) @ d + c)",
        # the covariance instead of its inverse
        "def log_likelihood_ratio(X, mu_b, mu_s, cov):\n    d = cov @ (mu_s - mu_b)\n"
        "    c = -0.5 * (mu_s @ cov @ mu_s - mu_b @ cov @ mu_b)\n    return np.asarray(X) @ d + c",
        # forgot the 1/2 of the quadratic form
        "def log_likelihood_ratio(X, mu_b, mu_s, cov):\n    d = np.linalg.solve(cov, mu_s - mu_b)\n"
        "    c = -(mu_s @ np.linalg.solve(cov, mu_s) - mu_b @ np.linalg.solve(cov, mu_b))\n"
        "    return np.asarray(X) @ d + c",
        # ignores the correlations (identity covariance)
        "def log_likelihood_ratio(X, mu_b, mu_s, cov):\n"
        "    return np.asarray(X) @ (mu_s - mu_b) - 0.5 * (mu_s @ mu_s - mu_b @ mu_b)",
    ],
    "sig_eff": [
        # the wrong tail of the background: keeps 1 - bkg_eff of it
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    return float(np.mean(np.asarray(score_sig) > np.quantile(score_bkg, bkg_eff)))",
        # the cut from the signal distribution
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    return float(np.mean(np.asarray(score_sig) > np.quantile(score_sig, 1 - bkg_eff)))",
        # counts the signal below the cut
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    return float(np.mean(np.asarray(score_sig) < np.quantile(score_bkg, 1 - bkg_eff)))",
        # a fixed cut at the quantile of a standard normal, not of the background sample
        "import scipy.stats\n"
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    return float(np.mean(np.asarray(score_sig) > scipy.stats.norm.ppf(1 - bkg_eff)))",
    ],
    "mlp": [
        # no ReLU derivative: gradient flows through dead units
        _mlp(delta_a="np.outer(dz, w2)"),
        # W1 gradient transposed (da^T X): right shape only for a square W1
        _mlp(grad_W1="(da.T @ X).reshape(W1.shape)"),
        # sum instead of the mean
        _mlp(scale=""),
        # b1 gradient averaged over the hidden units instead of summed over the events
        _mlp(grad_b1="np.full(b1.shape, da.mean())"),
        # ReLU derivative taken from the output layer's sign
        _mlp(delta_a="np.outer(dz, w2) * (w2 > 0)"),
    ],
}
