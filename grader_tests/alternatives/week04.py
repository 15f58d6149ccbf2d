"""Correct alternative solutions for week04; each must keep full marks (grader_tests/test_alternatives.py).

Same shape as grader_tests/mutants/week04.py: ``ALTERNATIVES = {task: [code, ...]}``, each code
redefines the task's functions.
"""

_SCALAR_HEAD = '''
class Scalar:
    def __init__(self, value, parents=()):
        self.value = float(value)
        self.grad = 0.0
        self.parents = tuple(parents)

    def __repr__(self):
        return f"Scalar(value={self.value:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def lift(other):
        return other if isinstance(other, Scalar) else Scalar(other)

    def __add__(self, other):
        other = Scalar.lift(other)
        return Scalar(self.value + other.value, [(self, 1.0), (other, 1.0)])

    def __radd__(self, other):
        return self + other

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Scalar.lift(other))

    def __rsub__(self, other):
        return Scalar.lift(other) + (-self)

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return Scalar.lift(other) / self
'''

ALTERNATIVES = {
    "flops": [
        # plain loops: one pass per JVP / VJP, one matrix-vector product per step
        "def jacobian_flops(dims):\n"
        "    forward = 0\n"
        "    for _ in range(dims[0]):\n"
        "        for k in range(1, len(dims)):\n"
        "            forward += dims[k] * dims[k - 1]\n"
        "    reverse = 0\n"
        "    for _ in range(dims[-1]):\n"
        "        for k in range(1, len(dims)):\n"
        "            reverse += dims[k] * dims[k - 1]\n"
        "    return forward, reverse",
        # numpy, returned as an integer array of two entries
        "def jacobian_flops(dims):\n"
        "    d = np.asarray(dims, dtype=np.int64)\n"
        "    per_pass = np.sum(d[1:] * d[:-1])\n"
        "    return np.array([d[0] * per_pass, d[-1] * per_pass])",
    ],
    "jacobians": [
        # forward-mode Jacobian (jacfwd) instead of jacrev
        "def jacobian_three_ways(f, x, v, u):\n"
        "    _, jv = torch.func.jvp(f, (x,), (v,))\n"
        "    _, vjp_fn = torch.func.vjp(f, x)\n"
        "    return jv, vjp_fn(u)[0], torch.func.jacfwd(f)(x)",
        # the eager API: the Jacobian from torch.autograd.functional, the products from it
        "def jacobian_three_ways(f, x, v, u):\n"
        "    J = torch.autograd.functional.jacobian(f, x)\n"
        "    return J @ v, u @ J, J",
    ],
    "scalar": [
        # recursive topological sort (as in micrograd), division as a power
        _SCALAR_HEAD + '''
    def __mul__(self, other):
        other = Scalar.lift(other)
        return Scalar(self.value * other.value, [(self, other.value), (other, self.value)])

    def __truediv__(self, other):
        return self * Scalar.lift(other) ** -1.0

    def __pow__(self, exponent):
        return Scalar(self.value ** exponent, [(self, exponent * self.value ** (exponent - 1))])

    def sin(self):
        return Scalar(math.sin(self.value), [(self, math.cos(self.value))])

    def cos(self):
        return Scalar(math.cos(self.value), [(self, -math.sin(self.value))])

    def exp(self):
        return Scalar(math.exp(self.value), [(self, math.exp(self.value))])

    def log(self):
        return Scalar(math.log(self.value), [(self, 1 / self.value)])

    def backward(self):
        topo, visited = [], set()

        def build(node):
            if node not in visited:
                visited.add(node)
                for parent, _ in node.parents:
                    build(parent)
                topo.append(node)

        build(self)
        self.grad = 1.0
        for node in reversed(topo):
            for parent, local in node.parents:
                parent.grad += local * node.grad
''',
        # Kahn's algorithm: a node passes its gradient on once all its users have
        _SCALAR_HEAD + '''
    def __mul__(self, other):
        o = other if isinstance(other, Scalar) else Scalar(other)
        return Scalar(self.value * o.value, ((self, o.value), (o, self.value)))

    def __truediv__(self, other):
        o = other if isinstance(other, Scalar) else Scalar(other)
        q = self.value / o.value
        return Scalar(q, ((self, 1.0 / o.value), (o, -q / o.value)))

    def __pow__(self, exponent):
        return Scalar(math.pow(self.value, exponent), ((self, exponent * math.pow(self.value, exponent - 1)),))

    def sin(self):
        return Scalar(math.sin(self.value), ((self, math.cos(self.value)),))

    def cos(self):
        return Scalar(math.cos(self.value), ((self, -math.sin(self.value)),))

    def exp(self):
        e = math.exp(self.value)
        return Scalar(e, ((self, e),))

    def log(self):
        return Scalar(math.log(self.value), ((self, 1.0 / self.value),))

    def backward(self):
        users, stack, seen = {}, [self], {id(self)}
        while stack:
            node = stack.pop()
            for parent, _ in node.parents:
                users[id(parent)] = users.get(id(parent), 0) + 1
                if id(parent) not in seen:
                    seen.add(id(parent))
                    stack.append(parent)
        self.grad = 1.0
        ready = [self]
        while ready:
            node = ready.pop()
            for parent, local in node.parents:
                parent.grad += local * node.grad
                users[id(parent)] -= 1
                if users[id(parent)] == 0:
                    ready.append(parent)
''',
    ],
    "simulator": [
        # the two components as separate scalars; landing by a Python loop over the points
        "def simulate(v0, angle, drag, dt, n_steps):\n"
        "    v0, angle, drag = (torch.as_tensor(a, dtype=torch.float64) for a in (v0, angle, drag))\n"
        "    x = y = torch.zeros((), dtype=torch.float64)\n"
        "    vx, vy = v0 * torch.cos(angle), v0 * torch.sin(angle)\n"
        "    xs, ys = [x], [y]\n"
        "    for _ in range(n_steps):\n"
        "        speed = torch.sqrt(vx * vx + vy * vy)\n"
        "        ax, ay = -drag * speed * vx, -G - drag * speed * vy\n"
        "        x = x + vx * dt + ax * dt * dt / 2\n"
        "        y = y + vy * dt + ay * dt * dt / 2\n"
        "        vx, vy = vx + ax * dt, vy + ay * dt\n"
        "        xs.append(x)\n"
        "        ys.append(y)\n"
        "    return torch.stack([torch.stack(xs), torch.stack(ys)], dim=1)\n\n\n"
        "def landing_distance(trajectory):\n"
        "    for n in range(1, len(trajectory) - 1):\n"
        "        if float(trajectory[n, 1]) >= 0 > float(trajectory[n + 1, 1]):\n"
        "            p, q = trajectory[n], trajectory[n + 1]\n"
        "            return p[0] + p[1] / (p[1] - q[1]) * (q[0] - p[0])\n"
        "    raise ValueError('the throw has not landed')",
        # rows appended with torch.cat, torch.linalg.norm, interpolation written as a weighted mean
        "def simulate(v0, angle, drag, dt, n_steps):\n"
        "    angle = torch.as_tensor(angle, dtype=torch.float64)\n"
        "    velocity = torch.as_tensor(v0, dtype=torch.float64) * torch.stack([angle.cos(), angle.sin()])\n"
        "    out = torch.zeros(1, 2, dtype=torch.float64)\n"
        "    g = torch.tensor([0.0, -G], dtype=torch.float64)\n"
        "    for _ in range(n_steps):\n"
        "        a = g - drag * torch.linalg.norm(velocity) * velocity\n"
        "        out = torch.cat([out, (out[-1] + velocity * dt + a * (dt ** 2 / 2))[None]])\n"
        "        velocity = velocity + a * dt\n"
        "    return out\n\n\n"
        "def landing_distance(trajectory):\n"
        "    y = trajectory[:, 1].detach().numpy()\n"
        "    hits = np.nonzero((y[1:-1] >= 0) & (y[2:] < 0))[0]\n"
        "    if len(hits) == 0:\n"
        "        raise ValueError('no landing')\n"
        "    n = hits[0] + 1\n"
        "    w = trajectory[n, 1] / (trajectory[n, 1] - trajectory[n + 1, 1])\n"
        "    return (1 - w) * trajectory[n, 0] + w * trajectory[n + 1, 0]",
    ],
    "aim": [
        # Newton with .backward() and a step-size stop as well
        "def aim(v0, target, drag, dt, n_steps):\n"
        "    angle = 0.05\n"
        "    for _ in range(50):\n"
        "        a = torch.tensor(angle, dtype=torch.float64, requires_grad=True)\n"
        "        r = landing_distance(simulate(v0, a, drag, dt, n_steps)) - target\n"
        "        if abs(float(r)) < 1e-9:\n"
        "            break\n"
        "        r.backward()\n"
        "        step = float(r) / float(a.grad)\n"
        "        angle -= step\n"
        "        if abs(step) < 1e-15:\n"
        "            break\n"
        "    return angle",
        # Newton, returned as a 0-d tensor, with a tighter stop
        "def aim(v0, target, drag, dt, n_steps):\n"
        "    theta = torch.tensor(0.05, dtype=torch.float64)\n"
        "    for _ in range(50):\n"
        "        theta.requires_grad_(True)\n"
        "        r = landing_distance(simulate(v0, theta, drag, dt, n_steps)) - target\n"
        "        (d,) = torch.autograd.grad(r, theta)\n"
        "        theta = (theta - r / d).detach()\n"
        "        if abs(r.item()) < 1e-11:\n"
        "            break\n"
        "    return theta",
    ],
    "fit": [
        # L-BFGS, as the sheet suggests
        "def fit_launch(observed, v0, dt):\n"
        "    observed = torch.as_tensor(observed, dtype=torch.float64)\n"
        "    n = len(observed) - 1\n"
        "    p = torch.tensor([0.5, 0.0], dtype=torch.float64, requires_grad=True)\n"
        "    opt = torch.optim.LBFGS([p], lr=1, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-15,\n"
        "                            line_search_fn='strong_wolfe')\n\n"
        "    def closure():\n"
        "        opt.zero_grad()\n"
        "        loss = torch.mean(torch.sum((simulate(v0, p[0], p[1], dt, n) - observed) ** 2, dim=1))\n"
        "        loss.backward()\n"
        "        return loss\n\n"
        "    for _ in range(3):\n"
        "        opt.step(closure)\n"
        "    return float(p[0]), float(p[1])",
        # Levenberg-Marquardt on the residuals (Gauss-Newton with a forward-mode Jacobian),
        # returned as a numpy array
        "def fit_launch(observed, v0, dt):\n"
        "    observed = torch.as_tensor(observed, dtype=torch.float64)\n"
        "    n = len(observed) - 1\n\n"
        "    def residuals(p):\n"
        "        return (simulate(v0, p[0], p[1], dt, n) - observed).reshape(-1)\n\n"
        "    p, lam = torch.tensor([0.5, 0.0], dtype=torch.float64), 1e-3\n"
        "    cost = float((residuals(p) ** 2).sum())\n"
        "    for _ in range(200):\n"
        "        J = torch.autograd.functional.jacobian(residuals, p, vectorize=False)\n"
        "        r = residuals(p)\n"
        "        A, g = J.T @ J, J.T @ r\n"
        "        while lam < 1e12:\n"
        "            step = torch.linalg.solve(A + lam * torch.diag(torch.diagonal(A)), -g)\n"
        "            new_cost = float((residuals(p + step) ** 2).sum())\n"
        "            if new_cost <= cost:\n"
        "                break\n"
        "            lam *= 10\n"
        "        else:\n"
        "            break\n"
        "        p, lam = p + step, max(lam / 10, 1e-12)\n"
        "        done = abs(cost - new_cost) <= 1e-15 * cost\n"
        "        cost = new_cost\n"
        "        if done or bool(torch.all(step.abs() < 1e-12)):\n"
        "            break\n"
        "    return p.numpy()",
    ],
}
