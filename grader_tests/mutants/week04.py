"""Plausible wrong answers for week04; each must lose points (grader_tests/test_mutants.py)."""
import re
from pathlib import Path

import nbformat


def _reference(grade_id):
    """The reference answer cell with the solution markers removed."""
    source = Path(__file__).resolve().parents[2] / "source" / "week04" / "week04.ipynb"
    nb = nbformat.read(source, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return "\n".join(line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


def _mutate(grade_id, old, new):
    code = _reference(grade_id)
    assert code.count(old) == 1, f"mutation target not unique in {grade_id}: {old!r}"
    return code.replace(old, new)


_SIM = "simulator"

MUTANTS = {
    "flops": [
        # counts one pass only (no factor n_0 / n_L)
        "def jacobian_flops(dims):\n    c = sum(dims[k] * dims[k - 1] for k in range(1, len(dims)))\n    return c, c",
        # modes swapped
        "def jacobian_flops(dims):\n    c = sum(dims[k] * dims[k - 1] for k in range(1, len(dims)))\n"
        "    return dims[-1] * c, dims[0] * c",
        # matrix-chain accumulation without the identity (first/last step for free)
        "def jacobian_flops(dims):\n    L = len(dims) - 1\n"
        "    fwd = sum(dims[k] * dims[k - 1] * dims[0] for k in range(2, L + 1))\n"
        "    rev = sum(dims[-1] * dims[k] * dims[k - 1] for k in range(1, L))\n    return fwd, rev",
        # additions counted as well: n_k (2 n_{k-1} - 1) per product
        "def jacobian_flops(dims):\n    c = sum(dims[k] * (2 * dims[k - 1] - 1) for k in range(1, len(dims)))\n"
        "    return dims[0] * c, dims[-1] * c",
    ],
    "jacobians": [
        # the transposed Jacobian
        "def jacobian_three_ways(f, x, v, u):\n    _, jv = torch.func.jvp(f, (x,), (v,))\n"
        "    _, fn = torch.func.vjp(f, x)\n    return jv, fn(u)[0], torch.func.jacrev(f)(x).T",
        # the primal output instead of the tangent
        "def jacobian_three_ways(f, x, v, u):\n    out, jv = torch.func.jvp(f, (x,), (v,))\n"
        "    _, fn = torch.func.vjp(f, x)\n    return out, fn(u)[0], torch.func.jacrev(f)(x)",
        # the VJP computed as J^T v (tangent and cotangent mixed up)
        "def jacobian_three_ways(f, x, v, u):\n    J = torch.func.jacrev(f)(x)\n    return J @ v, J.T @ v, J",
        # the VJP's tuple returned as it is, not unpacked
        "def jacobian_three_ways(f, x, v, u):\n    _, jv = torch.func.jvp(f, (x,), (v,))\n"
        "    _, fn = torch.func.vjp(f, x)\n    return jv, fn(u), torch.func.jacfwd(f)(x)",
    ],
    "scalar": [
        # overwrites instead of accumulating
        _mutate("scalar", "parent.grad += local * node.grad", "parent.grad = local * node.grad"),
        # quotient rule with the wrong sign
        _mutate("scalar", "(o, -self.value / o.value ** 2)", "(o, self.value / o.value ** 2)"),
        # power rule without the -1
        _mutate("scalar", "exponent * self.value ** (exponent - 1)", "exponent * self.value ** exponent"),
        # derivative of cos with the wrong sign
        _mutate("scalar", "[(self, -math.sin(self.value))]", "[(self, math.sin(self.value))]"),
        # derivative of log taken as the value itself
        _mutate("scalar", "[(self, 1.0 / self.value)]", "[(self, self.value)]"),
        # no topological order: breadth-first from the output, each node passes on its
        # gradient as soon as it is reached
        _mutate("scalar", "        for node in reversed(order):               # outputs first, inputs last\n"
                          "            for parent, local in node.parents:\n"
                          "                parent.grad += local * node.grad",
                "        queue = [self]\n        while queue:\n            node = queue.pop(0)\n"
                "            for parent, local in node.parents:\n"
                "                parent.grad += local * node.grad\n                queue.append(parent)"),
    ],
    "simulator": [
        # plain Euler position update (no a dt^2 / 2)
        _mutate(_SIM, "position = position + velocity * dt + 0.5 * acceleration * dt ** 2",
                "position = position + velocity * dt"),
        # linear drag -k v instead of quadratic -k |v| v
        _mutate(_SIM, "acceleration = gravity - drag * torch.linalg.vector_norm(velocity) * velocity",
                "acceleration = gravity - drag * velocity"),
        # semi-implicit (symplectic) Euler: velocity first, then the position with the new velocity
        _mutate(_SIM, "        position = position + velocity * dt + 0.5 * acceleration * dt ** 2\n"
                      "        velocity = velocity + acceleration * dt",
                "        velocity = velocity + acceleration * dt\n"
                "        position = position + velocity * dt"),
        # breaks the graph: the drag enters as a Python float
        _mutate(_SIM, "    drag = torch.as_tensor(drag, dtype=torch.float64)", "    drag = float(drag)"),
        # landing: the last point above the ground, no interpolation
        _mutate(_SIM, "    return before[0] + fraction * (after[0] - before[0])", "    return before[0] + 0.0 * fraction"),
        # landing: the interpolation fraction from the wrong end
        _mutate(_SIM, "    fraction = before[1] / (before[1] - after[1])", "    fraction = after[1] / (after[1] - before[1])"),
        # landing: the last crossing instead of the first
        _mutate(_SIM, "    n = int(crossings[0]) + 1", "    n = int(crossings[-1]) + 1"),
    ],
    "aim": [
        # the analytic no-drag formula, whatever the drag
        "def aim(v0, target, drag, dt, n_steps):\n    return 0.5 * math.asin(G * target / v0 ** 2)",
        # the steep solution (Newton started above the maximum)
        _mutate("aim", "angle = torch.tensor(0.05, dtype=torch.float64)", "angle = torch.tensor(1.4, dtype=torch.float64)"),
        # three plain gradient steps on (R - target)^2: not converged
        "def aim(v0, target, drag, dt, n_steps):\n    angle = torch.tensor(0.3, requires_grad=True)\n"
        "    for _ in range(3):\n        r = landing_distance(simulate(v0, angle, drag, dt, n_steps)) - target\n"
        "        (g,) = torch.autograd.grad(r ** 2, angle)\n"
        "        angle = (angle - 1e-4 * g).detach().requires_grad_(True)\n    return float(angle)",
        # degrees instead of radians
        _mutate("aim", "    return float(angle.detach())", "    return math.degrees(float(angle.detach()))"),
    ],
    "fit": [
        # only the angle is fitted, the drag stays at its start value 0
        _mutate("fit", "    return params[0].item(), params[1].item()",
                "    return params[0].item(), 0.0"),
        # order swapped
        _mutate("fit", "    return params[0].item(), params[1].item()",
                "    return params[1].item(), params[0].item()"),
        # plain gradient descent, 50 steps: far from converged
        "def fit_launch(observed, v0, dt):\n    observed = torch.as_tensor(observed)\n"
        "    p = torch.tensor([0.5, 0.0], requires_grad=True)\n    for _ in range(50):\n"
        "        loss = torch.mean(torch.sum((simulate(v0, p[0], p[1], dt, len(observed) - 1) - observed) ** 2, dim=1))\n"
        "        (g,) = torch.autograd.grad(loss, p)\n        p = (p - 1e-4 * g).detach().requires_grad_(True)\n"
        "    return p[0].item(), p[1].item()",
        # fits only the final position (the landing region), not the whole track
        _mutate("fit", "        return torch.mean(torch.sum((predicted - observed) ** 2, dim=1))",
                "        return torch.sum((predicted[-1] - observed[-1]) ** 2)"),
    ],
}
