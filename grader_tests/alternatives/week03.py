"""Correct alternative solutions for week03; each must keep full marks
(grader_tests/test_alternatives.py). Same shape as grader_tests/mutants/week03.py."""

ALTERNATIVES = {
    "bce_loss": [
        # the textbook form with log-sigmoids from np.logaddexp (stable), a loop-free sum / n
        "def bce_loss(w, b, X, y):\n    z = np.asarray(X) @ np.asarray(w) + b\n    y = np.asarray(y, dtype=float)\n"
        "    log_p, log_1mp = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)\n"
        "    return -np.sum(y * log_p + (1 - y) * log_1mp) / len(y)",
        # softplus written with abs: max(z, 0) + log1p(exp(-|z|)) - y z
        "def bce_loss(w, b, X, y):\n    z = np.dot(X, w) + b\n"
        "    return float(np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z))",
    ],
    "bce_gradient": [
        # scipy's expit, the mean over events with einsum
        "import scipy.special\n"
        "def bce_gradient(w, b, X, y):\n    X = np.asarray(X, dtype=float)\n"
        "    e = scipy.special.expit(X @ w + b) - y\n"
        "    return np.einsum('i,ij->j', e, X) / len(e), e.mean()",
        # a piecewise stable sigmoid, the gradient as a mean of per-event outer terms
        "def bce_gradient(w, b, X, y):\n    X = np.asarray(X, dtype=float)\n    z = X @ w + b\n"
        "    ez = np.exp(-np.abs(z))\n    p = np.where(z >= 0, 1 / (1 + ez), ez / (1 + ez))\n"
        "    e = p - y\n    return np.mean(e[:, None] * X, axis=0), float(np.mean(e))",
    ],
    "train_logistic": [
        # the history as a list turned into an array, parameters updated in place
        "def train_logistic(X, y, lr, n_steps):\n    X = np.asarray(X, dtype=float)\n"
        "    w = np.zeros(X.shape[1])\n    b = 0.0\n    history = []\n"
        "    for _ in range(n_steps):\n        history.append(bce_loss(w, b, X, y))\n"
        "        gw, gb = bce_gradient(w, b, X, y)\n        w -= lr * gw\n        b -= lr * gb\n"
        "    return w, b, np.array(history)",
        # one parameter vector theta = (w, b) on the augmented events [X, 1]
        "def train_logistic(X, y, lr, n_steps):\n    A = np.hstack([np.asarray(X, dtype=float), np.ones((len(X), 1))])\n"
        "    theta = np.zeros(A.shape[1])\n    losses = np.zeros(n_steps)\n"
        "    for k in range(n_steps):\n        z = A @ theta\n"
        "        losses[k] = np.mean(np.logaddexp(0.0, z) - y * z)\n"
        "        theta = theta - lr * A.T @ (np.exp(-np.logaddexp(0.0, -z)) - y) / len(y)\n"
        "    return theta[:-1], theta[-1], losses",
    ],
    "llr": [
        # the difference of the two Gaussian log-densities (quadratic forms with solve)
        "def log_likelihood_ratio(X, mu_b, mu_s, cov):\n    X = np.asarray(X, dtype=float)\n"
        "    def quad(mu):\n        r = X - mu\n        return np.einsum('ij,ij->i', r, np.linalg.solve(cov, r.T).T)\n"
        "    return -0.5 * quad(np.asarray(mu_s)) + 0.5 * quad(np.asarray(mu_b))",
        # scipy.stats (the log-determinants cancel)
        "import scipy.stats\n"
        "def log_likelihood_ratio(X, mu_b, mu_s, cov):\n"
        "    X = np.atleast_2d(np.asarray(X, dtype=float))\n"
        "    return np.atleast_1d(scipy.stats.multivariate_normal(mu_s, cov).logpdf(X)\n"
        "                         - scipy.stats.multivariate_normal(mu_b, cov).logpdf(X))",
    ],
    "sig_eff": [
        # np.percentile and a count
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    cut = np.percentile(score_bkg, 100 * (1 - bkg_eff))\n"
        "    return np.count_nonzero(np.asarray(score_sig) > cut) / len(score_sig)",
        # float32 scores, the linear-interpolation quantile written out on the sorted sample
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    s = np.sort(np.asarray(score_bkg, dtype=np.float32)).astype(float)\n"
        "    pos = (1 - bkg_eff) * (len(s) - 1)\n    lo = int(np.floor(pos))\n"
        "    hi = min(lo + 1, len(s) - 1)\n    cut = s[lo] + (pos - lo) * (s[hi] - s[lo])\n"
        "    return float(np.mean(np.asarray(score_sig, dtype=np.float32) > cut))",
        # another quantile convention (the nearest order statistic) and ">="
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    cut = np.quantile(score_bkg, 1 - bkg_eff, method='nearest')\n"
        "    return float(np.mean(np.asarray(score_sig) >= cut))",
        # the empirical CDF's inverse: keep the n_b * bkg_eff highest background scores
        "def signal_efficiency(score_sig, score_bkg, bkg_eff):\n"
        "    b = np.sort(score_bkg)[::-1]\n    k = int(round(bkg_eff * len(b)))\n"
        "    cut = b[k] if k < len(b) else -np.inf\n"
        "    return float(np.mean(np.asarray(score_sig) > cut))",
    ],
    "mlp": [
        # explicit per-layer backward pass with einsum; relu' as a float mask
        "def mlp_loss_and_gradients(params, X, y):\n    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)\n"
        "    W1, b1, w2, b2 = params['W1'], params['b1'], params['w2'], params['b2']\n"
        "    a = np.einsum('nd,dh->nh', X, W1) + b1\n    mask = (a > 0).astype(float)\n    h = a * mask\n"
        "    z = h @ w2 + b2\n    loss = np.mean(np.logaddexp(0.0, z) - y * z)\n"
        "    dz = (1 / (1 + np.exp(-np.clip(z, -500, 500))) - y) / len(y)\n"
        "    da = dz[:, None] * w2[None, :] * mask\n"
        "    return loss, {'W1': np.einsum('nd,nh->dh', X, da), 'b1': da.sum(0), 'w2': h.T @ dz, 'b2': dz.sum()}",
        # a loop over events accumulating outer products (slower, same numbers), float32 grads
        "def mlp_loss_and_gradients(params, X, y):\n    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)\n"
        "    W1, b1, w2, b2 = (np.asarray(params[k], dtype=float) for k in ('W1', 'b1', 'w2', 'b2'))\n"
        "    g = {'W1': np.zeros_like(W1), 'b1': np.zeros_like(b1), 'w2': np.zeros_like(w2), 'b2': 0.0}\n"
        "    total = 0.0\n    n = len(y)\n"
        "    for x_i, y_i in zip(X, y):\n        a = x_i @ W1 + b1\n        h = np.maximum(a, 0)\n"
        "        z = h @ w2 + b2\n        total += np.logaddexp(0.0, z) - y_i * z\n"
        "        dz = (np.exp(-np.logaddexp(0.0, -z)) - y_i) / n\n        da = dz * w2 * (a > 0)\n"
        "        g['W1'] += np.outer(x_i, da)\n        g['b1'] += da\n        g['w2'] += dz * h\n        g['b2'] += dz\n"
        "    return total / n, {k: np.float32(v) if k == 'b2' else v.astype(np.float32) for k, v in g.items()}",
    ],
}
