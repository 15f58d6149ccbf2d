"""Plausible wrong answers for week01; each must lose points (grader_tests/test_mutants.py)."""

_PREDICT = '''
def perceptron_predict(w, X):
    scores = w[0] + np.asarray(X, dtype=float) @ np.asarray(w[1:], dtype=float)
    return np.where(scores >= 0, 1, -1)
'''
_TRAIN = '''
def perceptron_train(X, y, epochs, lr):
    X_tilde = np.hstack([np.ones((len(X), 1)), np.asarray(X, dtype=float)])
    w = np.zeros(X_tilde.shape[1])
    for _ in range(epochs):
        for x_i, y_i in zip(X_tilde, y):
            if y_i * (w @ x_i) <= 0:
                w = w + lr * y_i * x_i
    return w
'''

_INTERVAL = '''
import scipy.optimize
def likelihood_interval(t):
    t = np.asarray(t, dtype=float)
    tau_hat = float(mle_tau(t))
    excess = lambda tau: exponential_nll(tau, t) - exponential_nll(tau_hat, t) - {level}
    return (scipy.optimize.brentq(excess, tau_hat / 1000, tau_hat),
            scipy.optimize.brentq(excess, tau_hat, 1000 * tau_hat))
'''

MUTANTS = {
    "nll": [
        # forgot the normalisation 1/tau
        "def exponential_nll(tau, t):\n    t = np.asarray(t, dtype=float)\n    return float(t.sum() / tau)",
        # wrong sign
        "def exponential_nll(tau, t):\n    t = np.asarray(t, dtype=float)\n    return -float(t.size * np.log(tau) + t.sum() / tau)",
        # mean instead of sum
        "def exponential_nll(tau, t):\n    t = np.asarray(t, dtype=float)\n    return float(np.log(tau) + t.mean() / tau)",
    ],
    "mle": [
        "def mle_tau(t):\n    return np.median(np.asarray(t, dtype=float), axis=-1)",
        "def mle_tau(t):\n    return np.asarray(t, dtype=float).mean(axis=0)",
        "def mle_tau(t):\n    return 1.0 / np.asarray(t, dtype=float).mean(axis=-1)",
    ],
    "fisher": [
        "def fisher_error(t):\n    t = np.asarray(t, dtype=float)\n    return t.mean(axis=-1) / np.sqrt(t.shape[-1] - 1)",
        "def fisher_error(t):\n    t = np.asarray(t, dtype=float)\n    return t.mean(axis=-1) / t.shape[-1]",
        "def fisher_error(t):\n    t = np.asarray(t, dtype=float)\n    return t.std(axis=-1) / np.sqrt(t.shape[0])",
    ],
    "coverage": [
        # a 2-sigma interval
        "def coverage(tau_true, n_events, n_toys, rng):\n"
        "    toys = rng.exponential(tau_true, size=(n_toys, n_events))\n"
        "    return float(np.mean(np.abs(mle_tau(toys) - tau_true) <= 2 * fisher_error(toys)))",
        # ignores the generator it was given
        "def coverage(tau_true, n_events, n_toys, rng):\n"
        "    toys = np.random.default_rng().exponential(tau_true, size=(n_toys, n_events))\n"
        "    return float(np.mean(np.abs(mle_tau(toys) - tau_true) <= fisher_error(toys)))",
        # hard-coded textbook value
        "def coverage(tau_true, n_events, n_toys, rng):\n    return 0.6827",
    ],
    "perceptron": [
        # no bias term
        "def perceptron_train(X, y, epochs, lr):\n"
        "    X = np.asarray(X, dtype=float)\n    w = np.zeros(X.shape[1] + 1)\n"
        "    for _ in range(epochs):\n        for x_i, y_i in zip(X, y):\n"
        "            if y_i * (w[1:] @ x_i) <= 0:\n                w[1:] = w[1:] + lr * y_i * x_i\n"
        "    return w\n" + _PREDICT,
        # np.sign gives 0 on the boundary and floats
        _TRAIN + "\ndef perceptron_predict(w, X):\n    return np.sign(w[0] + np.asarray(X) @ w[1:])",
        # strict inequality: points on the boundary never trigger an update
        _TRAIN.replace("<= 0", "< 0") + _PREDICT,
    ],
    "interval": [
        # the parabola: tau_hat -+ sigma_hat
        "def likelihood_interval(t):\n    tau_hat, sigma = float(mle_tau(t)), float(fisher_error(t))\n"
        "    return tau_hat - sigma, tau_hat + sigma",
        # Delta NLL = 1 instead of 1/2
        _INTERVAL.format(level="1.0"),
        # Delta of the mean NLL per event instead of the NLL
        _INTERVAL.format(level="0.5 * len(t)"),
    ],
    "measurement": [
        # copied from a neighbour: the right method on another variant's data
        "_other = np.random.default_rng(20261023).exponential(2.2, size=1000)\n"
        "MY_TAU_HAT = float(mle_tau(_other))\nMY_SIGMA_HAT = float(fisher_error(_other))\n"
        "MY_INTERVAL = likelihood_interval(_other)",
        # the sample standard deviation of the decay times as the error of tau_hat
        "MY_TAU_HAT = float(mle_tau(decay_times))\nMY_SIGMA_HAT = float(np.std(decay_times))\n"
        "MY_INTERVAL = likelihood_interval(decay_times)",
        # the true lifetime (which a real experiment does not know) instead of the measured one
        "MY_TAU_HAT = TRUE_TAU\nMY_SIGMA_HAT = float(fisher_error(decay_times))\n"
        "MY_INTERVAL = likelihood_interval(decay_times)",
        # rounded to 2 significant digits: too coarse for the measurement asked for
        "MY_TAU_HAT = round(float(mle_tau(decay_times)), 1)\nMY_SIGMA_HAT = round(float(fisher_error(decay_times)), 2)\n"
        "MY_INTERVAL = tuple(round(x, 1) for x in likelihood_interval(decay_times))",
    ],
}
