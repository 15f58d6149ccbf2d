"""Correct alternative solutions for week01; each must keep full marks
(grader_tests/test_alternatives.py). Same shape as grader_tests/mutants/week01.py."""

ALTERNATIVES = {
    "nll": [
        # scipy's log-density, summed
        "import scipy.stats\n"
        "def exponential_nll(tau, t):\n    return -scipy.stats.expon(scale=tau).logpdf(t).sum()",
        # the sum of the per-event terms, returned as a numpy scalar
        "def exponential_nll(tau, t):\n    return np.sum(np.log(tau) + np.asarray(t) / tau)",
        # -log of the density written out, a 0-d array as the answer
        "def exponential_nll(tau, t):\n    t = np.asarray(t, dtype=np.float64)\n"
        "    return np.asarray(-np.sum(-t / tau - np.log(tau)))",
    ],
    "mle": [
        # sum over the last axis divided by its length
        "def mle_tau(t):\n    t = np.asarray(t)\n    return t.sum(axis=-1) / t.shape[-1]",
        # one row at a time (a loop over experiments is allowed here)
        "def mle_tau(t):\n    t = np.asarray(t, dtype=float)\n"
        "    if t.ndim == 1:\n        return float(np.mean(t))\n"
        "    return np.array([np.mean(row) for row in t])",
    ],
    "fisher": [
        # through mle_tau
        "def fisher_error(t):\n    return mle_tau(t) / np.sqrt(np.shape(t)[-1])",
        # sqrt of 1 / I(tau_hat) with I = N / tau_hat^2
        "def fisher_error(t):\n    t = np.asarray(t, dtype=float)\n    n = t.shape[-1]\n"
        "    tau_hat = np.mean(t, axis=-1)\n    return np.sqrt(1.0 / (n / tau_hat ** 2))",
    ],
    "coverage": [
        # the toys as columns: one call of shape (n_events, n_toys)
        "def coverage(tau_true, n_events, n_toys, rng):\n"
        "    toys = rng.exponential(tau_true, size=(n_events, n_toys))\n"
        "    tau_hat = toys.mean(axis=0)\n    sigma = tau_hat / np.sqrt(n_events)\n"
        "    return float(np.mean((tau_hat - sigma <= tau_true) & (tau_true <= tau_hat + sigma)))",
        # a loop over the toys, one draw per toy
        "def coverage(tau_true, n_events, n_toys, rng):\n"
        "    hits = 0\n    for _ in range(n_toys):\n"
        "        t = rng.exponential(tau_true, size=n_events)\n"
        "        hits += abs(mle_tau(t) - tau_true) <= fisher_error(t)\n"
        "    return hits / n_toys",
        # standard exponentials scaled by tau, one event at a time (a column per event)
        "def coverage(tau_true, n_events, n_toys, rng):\n"
        "    toys = np.column_stack([tau_true * rng.standard_exponential(n_toys) for _ in range(n_events)])\n"
        "    return float(np.count_nonzero(np.abs(mle_tau(toys) - tau_true) <= fisher_error(toys)) / n_toys)",
    ],
    "perceptron": [
        # bias and weights kept apart, events visited by index; int32 predictions
        "def perceptron_train(X, y, epochs, lr):\n"
        "    X = np.asarray(X, dtype=float)\n    b, v = 0.0, np.zeros(X.shape[1])\n"
        "    for _ in range(epochs):\n        for i in range(len(X)):\n"
        "            if y[i] * (b + X[i] @ v) <= 0:\n"
        "                b += lr * y[i]\n                v = v + lr * y[i] * X[i]\n"
        "    return np.concatenate(([b], v))\n"
        "def perceptron_predict(w, X):\n"
        "    return np.where(np.asarray(X) @ w[1:] + w[0] >= 0, 1, -1).astype(np.int32)",
        # in-place updates on the augmented events; predictions as 2 [score >= 0] - 1 (int8)
        "def perceptron_train(X, y, epochs, lr):\n"
        "    Xt = np.column_stack([np.ones(len(X)), X])\n    w = np.zeros(Xt.shape[1])\n"
        "    for _ in range(epochs):\n        for x_i, y_i in zip(Xt, y):\n"
        "            if y_i * np.dot(w, x_i) <= 0:\n                w += lr * y_i * x_i\n"
        "    return w\n"
        "def perceptron_predict(w, X):\n"
        "    Xt = np.column_stack([np.ones(len(X)), X])\n"
        "    return (2 * (Xt @ w >= 0) - 1).astype(np.int8)",
    ],
    "interval": [
        # closed form: u = tau_hat / tau solves u - log u = 1 + 1/(2N), the two branches of Lambert W
        "import scipy.special\n"
        "def likelihood_interval(t):\n    t = np.asarray(t, dtype=float)\n    tau_hat, n = t.mean(), t.size\n"
        "    arg = -np.exp(-(1.0 + 0.5 / n))\n"
        "    u_low_tau = -scipy.special.lambertw(arg, -1).real   # u > 1: tau < tau_hat\n"
        "    u_high_tau = -scipy.special.lambertw(arg, 0).real   # u < 1: tau > tau_hat\n"
        "    return tau_hat / u_low_tau, tau_hat / u_high_tau",
        # bisection by hand on Delta NLL written out, as an array
        "def likelihood_interval(t):\n    t = np.asarray(t, dtype=float)\n    n, tau_hat = t.size, t.mean()\n"
        "    f = lambda tau: n * (np.log(tau / tau_hat) + tau_hat / tau - 1.0) - 0.5\n"
        "    def bisect(a, b):\n        for _ in range(200):\n            m = 0.5 * (a + b)\n"
        "            if (f(m) > 0) == (f(a) > 0):\n                a = m\n            else:\n                b = m\n"
        "        return 0.5 * (a + b)\n"
        "    return np.array([bisect(tau_hat / 1000, tau_hat), bisect(tau_hat, 1000 * tau_hat)])",
    ],
    "measurement": [
        # typed with 4 significant digits, as the sheet allows
        "MY_TAU_HAT = float(f'{float(mle_tau(decay_times)):.4g}')\n"
        "MY_SIGMA_HAT = float(f'{float(fisher_error(decay_times)):.4g}')\n"
        "MY_INTERVAL = tuple(float(f'{x:.4g}') for x in likelihood_interval(decay_times))",
        # numpy scalars and a list, computed from the formulas directly
        "MY_TAU_HAT = np.mean(decay_times)\nMY_SIGMA_HAT = np.mean(decay_times) / np.sqrt(decay_times.size)\n"
        "MY_INTERVAL = list(likelihood_interval(decay_times))",
    ],
}
