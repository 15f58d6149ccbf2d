"""Correct alternative solutions for week02; each must keep full marks
(grader_tests/test_alternatives.py). Same shape as grader_tests/mutants/week02.py."""

_TO_MATRIX = '''
    L = states.shape[1]
    J = np.zeros((L, L))
    J[np.triu_indices(L, k=1)] = w
    return J
'''

ALTERNATIVES = {
    "poly": [
        # the normal equations where they are regular, the pseudo-inverse otherwise
        "def poly_fit(x, y, degree):\n    V = np.vander(np.asarray(x, dtype=float), degree + 1, increasing=True)\n"
        "    if degree + 1 <= len(x):\n        return np.linalg.solve(V.T @ V, V.T @ np.asarray(y, dtype=float))\n"
        "    return np.linalg.pinv(V) @ np.asarray(y, dtype=float)",
        # np.polynomial's least squares (ascending order), fitted column by column
        "def poly_fit(x, y, degree):\n    y = np.asarray(y, dtype=float)\n"
        "    V = np.polynomial.polynomial.polyvander(np.asarray(x, dtype=float), degree)\n"
        "    if y.ndim == 1:\n        return np.linalg.pinv(V) @ y\n"
        "    return np.stack([np.linalg.pinv(V) @ y[:, m] for m in range(y.shape[1])], axis=1)",
    ],
    "bias_variance": [
        # the noise drawn as (n, K) and used column by column (issue 19)
        "def bias_variance(f, x_train, x_test, degree, noise, n_datasets, rng):\n"
        "    x_train, x_test = np.asarray(x_train, dtype=float), np.asarray(x_test, dtype=float)\n"
        "    data = f(x_train)[:, None] + rng.normal(0.0, noise, size=(len(x_train), n_datasets))\n"
        "    F = (x_test[:, None] ** np.arange(degree + 1)) @ poly_fit(x_train, data, degree)\n"
        "    return float(np.mean((F.mean(axis=1) - f(x_test)) ** 2)), float(np.mean(F.var(axis=1)))",
        # a loop over the data sets, one noise draw per data set, predictions as rows
        "def bias_variance(f, x_train, x_test, degree, noise, n_datasets, rng):\n"
        "    x_train, x_test = np.asarray(x_train, dtype=float), np.asarray(x_test, dtype=float)\n"
        "    V_test = x_test[:, None] ** np.arange(degree + 1)\n"
        "    preds = np.array([V_test @ poly_fit(x_train, f(x_train) + rng.normal(0.0, noise, size=len(x_train)), degree)\n"
        "                      for _ in range(n_datasets)])\n"
        "    mean = preds.mean(axis=0)\n"
        "    return np.mean((mean - f(x_test)) ** 2), np.mean((preds - mean) ** 2)",
    ],
    "pairs": [
        # two loops over the pairs, filling a preallocated matrix
        "def pair_features(states):\n    s = np.asarray(states, dtype=float)\n    n, L = s.shape\n"
        "    out = np.empty((n, L * (L - 1) // 2))\n    m = 0\n"
        "    for j in range(L):\n        for k in range(j + 1, L):\n"
        "            out[:, m] = s[:, j] * s[:, k]\n            m += 1\n    return out",
        # the outer product, masked by the upper triangle (row-major order = triu order), float32
        "def pair_features(states):\n    s = np.asarray(states, dtype=np.float32)\n"
        "    mask = np.triu(np.ones((s.shape[1], s.shape[1]), dtype=bool), k=1)\n"
        "    return np.einsum('ij,ik->ijk', s, s)[:, mask]",
    ],
    "ridge": [
        # ridge as least squares on the augmented system [X; sqrt(alpha) 1]
        "def ridge_couplings(states, energies, alpha):\n    states = np.asarray(states, dtype=float)\n"
        "    X = pair_features(states)\n    D = X.shape[1]\n"
        "    A = np.vstack([X, np.sqrt(alpha) * np.eye(D)])\n"
        "    b = np.concatenate([np.asarray(energies, dtype=float), np.zeros(D)])\n"
        "    w = np.linalg.lstsq(A, b, rcond=None)[0]\n" + _TO_MATRIX,
        # through the SVD: w = V diag(s / (s^2 + alpha)) U^T E (pseudo-inverse for alpha = 0)
        "def ridge_couplings(states, energies, alpha):\n    states = np.asarray(states, dtype=float)\n"
        "    X = pair_features(states)\n    U, s, Vt = np.linalg.svd(X, full_matrices=False)\n"
        "    keep = s > s.max() * max(X.shape) * np.finfo(float).eps\n"
        "    factor = np.where(keep, s / (s ** 2 + alpha + (~keep)), 0.0)\n"
        "    w = Vt.T @ (factor * (U.T @ np.asarray(energies, dtype=float)))\n" + _TO_MATRIX,
    ],
    "lasso": [
        # proximal gradient descent (ISTA) with step 1 / L, stopped by the same rule
        "def lasso_couplings(states, energies, alpha, tol=1e-10, max_sweeps=10_000):\n"
        "    states = np.asarray(states, dtype=float)\n    E = np.asarray(energies, dtype=float)\n"
        "    X = pair_features(states)\n    n, D = X.shape\n"
        "    step = n / np.linalg.eigvalsh(X.T @ X).max()\n    w = np.zeros(D)\n"
        "    for _ in range(200 * max_sweeps):\n"
        "        z = w + step * X.T @ (E - X @ w) / n\n"
        "        new = np.sign(z) * np.maximum(np.abs(z) - step * alpha, 0.0)\n"
        "        done = np.max(np.abs(new - w)) <= tol * 1e-2\n        w = new\n"
        "        if done:\n            break\n" + _TO_MATRIX,
        # coordinate descent recomputing the partial residual each time, in reverse order
        "def lasso_couplings(states, energies, alpha, tol=1e-10, max_sweeps=10_000):\n"
        "    states = np.asarray(states, dtype=float)\n    E = np.asarray(energies, dtype=float)\n"
        "    X = pair_features(states)\n    n, D = X.shape\n    w = np.zeros(D)\n"
        "    for _ in range(max_sweeps):\n        change = 0.0\n"
        "        for j in reversed(range(D)):\n"
        "            r = E - X @ w + X[:, j] * w[j]\n            z = X[:, j] @ r / n\n"
        "            new = np.sign(z) * max(abs(z) - alpha, 0.0) / (X[:, j] @ X[:, j] / n)\n"
        "            change = max(change, abs(new - w[j]))\n            w[j] = new\n"
        "        if change <= tol:\n            break\n" + _TO_MATRIX,
    ],
    "double_descent": [
        # W drawn as (p, d) and transposed (issue 19); pinv for the minimum-norm fit
        "def random_feature_regression(X_train, y_train, X_test, y_test, p, rng):\n"
        "    X_train, X_test = np.asarray(X_train, dtype=float), np.asarray(X_test, dtype=float)\n"
        "    d = X_train.shape[1]\n    W = rng.normal(size=(p, d)).T\n"
        "    phi_train = np.maximum(X_train @ W / np.sqrt(d), 0.0)\n"
        "    phi_test = np.maximum(X_test @ W / np.sqrt(d), 0.0)\n"
        "    a = np.linalg.pinv(phi_train) @ y_train\n"
        "    return np.mean((phi_train @ a - y_train) ** 2), np.mean((phi_test @ a - y_test) ** 2)",
        # standard normals, the features scaled after the ReLU (positive homogeneity), lstsq
        "def random_feature_regression(X_train, y_train, X_test, y_test, p, rng):\n"
        "    X_train, X_test = np.asarray(X_train, dtype=float), np.asarray(X_test, dtype=float)\n"
        "    d = X_train.shape[1]\n    W = rng.standard_normal((d, p))\n"
        "    relu = lambda v: v * (v > 0)\n"
        "    phi_train, phi_test = relu(X_train @ W) / np.sqrt(d), relu(X_test @ W) / np.sqrt(d)\n"
        "    a, *_ = np.linalg.lstsq(phi_train, y_train, rcond=None)\n"
        "    res = phi_train @ a - y_train\n"
        "    return float(res @ res / len(res)), float(np.mean((phi_test @ a - y_test) ** 2))",
    ],
}
