"""Plausible wrong answers for week02; each must lose points (grader_tests/test_mutants.py)."""

_TO_MATRIX = '''
    L = states.shape[1]
    J = np.zeros((L, L))
    J[np.triu_indices(L, k=1)] = w
    return J
'''


def _lasso(update, sweeps="max_sweeps"):
    """Coordinate descent with a (wrong) coordinate update."""
    return f'''
def lasso_couplings(states, energies, alpha, tol=1e-10, max_sweeps=10_000):
    states = np.asarray(states, dtype=float)
    energies = np.asarray(energies, dtype=float)
    X = pair_features(states)
    n, D = X.shape
    w = np.zeros(D)
    residual = energies.copy()
    for _ in range({sweeps}):
        largest = 0.0
        for j in range(D):
            rho = X[:, j] @ residual / n + w[j]
            new = {update}
            if new != w[j]:
                residual -= X[:, j] * (new - w[j])
                largest = max(largest, abs(new - w[j]))
                w[j] = new
        if largest <= tol:
            break
''' + _TO_MATRIX


def _rf(fit, W="rng.normal(size=(d, p))", act="np.maximum({}, 0.0)", test="phi_test @ a - y_test"):
    return f'''
def random_feature_regression(X_train, y_train, X_test, y_test, p, rng):
    X_train = np.asarray(X_train, dtype=float)
    X_test = np.asarray(X_test, dtype=float)
    d = X_train.shape[1]
    W = {W}
    phi_train = {act.format("X_train @ W / np.sqrt(d)")}
    phi_test = {act.format("X_test @ W / np.sqrt(d)")}
    a = {fit}
    return float(np.mean((phi_train @ a - y_train) ** 2)), float(np.mean(({test}) ** 2))
'''


_LSTSQ = "np.linalg.lstsq(phi_train, y_train, rcond=None)[0]"

MUTANTS = {
    "poly": [
        # np.polyfit: descending order
        "def poly_fit(x, y, degree):\n    return np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), degree)",
        # off by one: degree columns instead of degree + 1
        "def poly_fit(x, y, degree):\n    V = np.asarray(x, dtype=float)[:, None] ** np.arange(degree)\n"
        "    return np.linalg.lstsq(V, np.asarray(y, dtype=float), rcond=None)[0]",
        # normal equations: no minimum-norm solution when d + 1 > n
        "def poly_fit(x, y, degree):\n    V = np.asarray(x, dtype=float)[:, None] ** np.arange(degree + 1)\n"
        "    return np.linalg.solve(V.T @ V, V.T @ np.asarray(y, dtype=float))",
        # no intercept column
        "def poly_fit(x, y, degree):\n    V = np.asarray(x, dtype=float)[:, None] ** np.arange(1, degree + 2)\n"
        "    return np.linalg.lstsq(V, np.asarray(y, dtype=float), rcond=None)[0]",
    ],
    "bias_variance": [
        # unbiased sample variance (ddof = 1)
        "def bias_variance(f, x_train, x_test, degree, noise, n_datasets, rng):\n"
        "    data = f(x_train) + rng.normal(0.0, noise, size=(n_datasets, len(x_train)))\n"
        "    F = (np.asarray(x_test)[:, None] ** np.arange(degree + 1)) @ poly_fit(x_train, data.T, degree)\n"
        "    return float(np.mean((F.mean(axis=1) - f(x_test)) ** 2)), float(np.mean(F.var(axis=1, ddof=1)))",
        # bias not squared
        "def bias_variance(f, x_train, x_test, degree, noise, n_datasets, rng):\n"
        "    data = f(x_train) + rng.normal(0.0, noise, size=(n_datasets, len(x_train)))\n"
        "    F = (np.asarray(x_test)[:, None] ** np.arange(degree + 1)) @ poly_fit(x_train, data.T, degree)\n"
        "    return float(np.mean(np.abs(F.mean(axis=1) - f(x_test)))), float(np.mean(F.var(axis=1)))",
        # variance across the test points instead of across the data sets
        "def bias_variance(f, x_train, x_test, degree, noise, n_datasets, rng):\n"
        "    data = f(x_train) + rng.normal(0.0, noise, size=(n_datasets, len(x_train)))\n"
        "    F = (np.asarray(x_test)[:, None] ** np.arange(degree + 1)) @ poly_fit(x_train, data.T, degree)\n"
        "    return float(np.mean((F.mean(axis=1) - f(x_test)) ** 2)), float(np.mean(F.var(axis=0)))",
    ],
    "pairs": [
        # includes the diagonal s_j s_j = 1
        "def pair_features(states):\n    s = np.asarray(states, dtype=float)\n"
        "    j, k = np.triu_indices(s.shape[1])\n    return s[:, j] * s[:, k]",
        # lower-triangle order (1,0), (2,0), (2,1), (3,0), ...
        "def pair_features(states):\n    s = np.asarray(states, dtype=float)\n"
        "    j, k = np.tril_indices(s.shape[1], k=-1)\n    return s[:, j] * s[:, k]",
        # only the nearest neighbours
        "def pair_features(states):\n    s = np.asarray(states, dtype=float)\n    return s * np.roll(s, -1, axis=1)",
        # the whole outer product, flattened
        "def pair_features(states):\n    s = np.asarray(states, dtype=float)\n"
        "    return np.einsum('ij,ik->ijk', s, s).reshape(len(s), -1)",
    ],
    "ridge": [
        # penalty scaled by n
        "def ridge_couplings(states, energies, alpha):\n    states = np.asarray(states, dtype=float)\n"
        "    X = pair_features(states)\n"
        "    w = np.linalg.lstsq(X.T @ X + alpha * len(X) * np.eye(X.shape[1]), X.T @ energies, rcond=None)[0]\n"
        + _TO_MATRIX,
        # a symmetric matrix J + J^T
        "def ridge_couplings(states, energies, alpha):\n    states = np.asarray(states, dtype=float)\n"
        "    X = pair_features(states)\n"
        "    w = np.linalg.lstsq(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ energies, rcond=None)[0]\n"
        "    L = states.shape[1]\n    J = np.zeros((L, L))\n    J[np.triu_indices(L, k=1)] = w\n    return J + J.T",
        # normal equations also for alpha = 0 (singular when n < D)
        "def ridge_couplings(states, energies, alpha):\n    states = np.asarray(states, dtype=float)\n"
        "    X = pair_features(states)\n"
        "    w = np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ energies)\n" + _TO_MATRIX,
        # ignores alpha
        "def ridge_couplings(states, energies, alpha):\n    states = np.asarray(states, dtype=float)\n"
        "    X = pair_features(states)\n    w = np.linalg.lstsq(X, energies, rcond=None)[0]\n" + _TO_MATRIX,
    ],
    "lasso": [
        # objective without 1/n: threshold alpha on X_j^T r instead of X_j^T r / n
        _lasso("np.sign(rho) * max(abs(rho) - alpha / n, 0.0)"),
        # hard thresholding
        _lasso("rho if abs(rho) > alpha else 0.0"),
        # threshold alpha / 2 (penalty convention mixed up)
        _lasso("np.sign(rho) * max(abs(rho) - alpha / 2, 0.0)"),
        # stops after three sweeps
        _lasso("np.sign(rho) * max(abs(rho) - alpha, 0.0)", sweeps="3"),
        # ridge instead of the LASSO: never exactly zero
        "def lasso_couplings(states, energies, alpha, tol=1e-10, max_sweeps=10_000):\n"
        "    states = np.asarray(states, dtype=float)\n    X = pair_features(states)\n"
        "    w = np.linalg.solve(X.T @ X / len(X) + alpha * np.eye(X.shape[1]), X.T @ energies / len(X))\n"
        + _TO_MATRIX,
    ],
    "double_descent": [
        # explicit ridge regularisation: no interpolation, other numbers
        _rf("np.linalg.solve(phi_train.T @ phi_train + np.eye(p), phi_train.T @ y_train)"),
        # tanh instead of ReLU
        _rf(_LSTSQ, act="np.tanh({})"),
        # the "test" error on the training data
        _rf(_LSTSQ, test="phi_train @ a - y_train"),
        # normal equations: singular for p > n
        _rf("np.linalg.lstsq(phi_train.T @ phi_train, phi_train.T @ y_train, rcond=1e-3)[0]"),
    ],
}
