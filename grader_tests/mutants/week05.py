"""Plausible wrong answers for week05; each must lose points (grader_tests/test_mutants.py)."""

# ----------------------------------------------------------------------------- Part 1
_METROPOLIS = '''
def metropolis(spins, beta, n_sweeps, rng):
    s = np.array(spins, copy=True)
    beta = np.asarray(beta, dtype=float)[..., None, None]
    i, j = np.indices(s.shape[-2:])
    for _ in range(n_sweeps):
        for parity in (0, 1):
            neighbours = (np.roll(s, 1, axis=-1) + np.roll(s, -1, axis=-1)
                          + np.roll(s, 1, axis=-2) + np.roll(s, -1, axis=-2))
            delta_e = 2 * s * neighbours
            flip = ((i + j) % 2 == parity) & (rng.random(s.shape) < np.exp(-beta * delta_e))
            s = np.where(flip, -s, s)
    return s
'''
_OPEN_BOUNDARIES = '''
def metropolis(spins, beta, n_sweeps, rng):
    s = np.array(spins, copy=True)
    beta = np.asarray(beta, dtype=float)[..., None, None]
    i, j = np.indices(s.shape[-2:])
    for _ in range(n_sweeps):
        for parity in (0, 1):
            pad = [(0, 0)] * (s.ndim - 2) + [(1, 1), (1, 1)]
            p = np.pad(s, pad)                                   # zeros outside: open boundaries
            neighbours = p[..., 1:-1, :-2] + p[..., 1:-1, 2:] + p[..., :-2, 1:-1] + p[..., 2:, 1:-1]
            delta_e = 2 * s * neighbours
            flip = ((i + j) % 2 == parity) & (rng.random(s.shape) < np.exp(-beta * delta_e))
            s = np.where(flip, -s, s)
    return s
'''
_ALL_AT_ONCE = '''
def metropolis(spins, beta, n_sweeps, rng):
    s = np.array(spins, copy=True)
    beta = np.asarray(beta, dtype=float)[..., None, None]
    for _ in range(n_sweeps):
        neighbours = (np.roll(s, 1, axis=-1) + np.roll(s, -1, axis=-1)
                      + np.roll(s, 1, axis=-2) + np.roll(s, -1, axis=-2))
        delta_e = 2 * s * neighbours
        s = np.where(rng.random(s.shape) < np.exp(-beta * delta_e), -s, s)   # every site at once
    return s
'''
_IN_PLACE = '''
def metropolis(spins, beta, n_sweeps, rng):
    s = spins                                                     # no copy: changes the input
    beta = np.asarray(beta, dtype=float)[..., None, None]
    i, j = np.indices(s.shape[-2:])
    for _ in range(n_sweeps):
        for parity in (0, 1):
            neighbours = (np.roll(s, 1, axis=-1) + np.roll(s, -1, axis=-1)
                          + np.roll(s, 1, axis=-2) + np.roll(s, -1, axis=-2))
            flip = ((i + j) % 2 == parity) & (rng.random(s.shape) < np.exp(-beta * 2 * s * neighbours))
            s[flip] *= -1
    return s
'''

# ----------------------------------------------------------------------------- Part 2
_CONV = '''
def conv2d_circular(x, weight, bias=None):
    k_h, k_w = weight.shape[-2:]
    p_h, p_w = (k_h - 1) // 2, (k_w - 1) // 2
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            shifted = torch.roll(x, shifts=(p_h - a, p_w - b), dims=(-2, -1))
            out = out + torch.einsum("oc,nchw->nohw", weight[:, :, a, b], shifted)
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out
'''
_CONV_ZERO_PADDING = '''
def conv2d_circular(x, weight, bias=None):
    n, c_in, h, w = x.shape
    c_out, _, k_h, k_w = weight.shape
    p_h, p_w = (k_h - 1) // 2, (k_w - 1) // 2
    patches = F.unfold(F.pad(x, (p_w, p_w, p_h, p_h)), (k_h, k_w))      # zero padding
    out = (weight.reshape(c_out, -1) @ patches).reshape(n, c_out, h, w)
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out
'''


def _conv_with_library():
    return '''
def conv2d_circular(x, weight, bias=None):
    p_h, p_w = (weight.shape[-2] - 1) // 2, (weight.shape[-1] - 1) // 2
    return F.conv2d(F.pad(x, (p_w, p_w, p_h, p_h), mode="circular"), weight, bias)
'''


# ----------------------------------------------------------------------------- Part 4
_CNN = '''
class IsingCNN(nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, padding_mode="circular")
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")
        self.head = nn.Linear(channels, 1)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        h = torch.relu(self.conv2(h))
        return self.head(h.mean(dim=(-2, -1))).squeeze(-1)
'''
_TRAIN = '''
def train_ising_cnn(X, y, epochs=5, seed=0, lr=1e-2, batch_size=64):
    torch.manual_seed(seed)
    X_aug, y_aug = spin_flip_augment(X, y)
    X_aug, y_aug = X_aug.float().to(device), y_aug.float().to(device)
    model = IsingCNN().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(X_aug)).to(device)
        total = 0.0
        for start in range(0, len(X_aug), batch_size):
            batch = order[start:start + batch_size]
            loss = F.binary_cross_entropy_with_logits(model(X_aug[batch]), y_aug[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        losses.append(total / len(X_aug))
    return model.eval(), losses
'''
_CNN_FLATTEN = '''
class IsingCNN(nn.Module):
    def __init__(self, channels=8, size=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, padding_mode="circular")
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")
        self.head = nn.Linear(channels * size * size, 1)          # position-dependent weights

    def forward(self, x):
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.head(h.flatten(1)).squeeze(-1)
'''
_CNN_SIGMOID = '''
class IsingCNN(nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, padding_mode="circular")
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")
        self.head = nn.Linear(channels, 1)

    def forward(self, x):                                         # a probability, not a logit
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return torch.sigmoid(self.head(h.mean(dim=(-2, -1))).squeeze(-1))
'''

# ----------------------------------------------------------------------------- Part 5
_TC_HEAD = '''
def critical_temperature(temperatures, p):
    temperatures = np.asarray(temperatures, dtype=float)
    p = np.asarray(p, dtype=float)
'''

MUTANTS = {
    "metropolis": [
        # dE = s * sum(neighbours): the factor 2 is missing, so the chain samples at 2T
        _METROPOLIS.replace("delta_e = 2 * s * neighbours", "delta_e = s * neighbours"),
        # odd sublattice first
        _METROPOLIS.replace("for parity in (0, 1):", "for parity in (1, 0):"),
        # open instead of periodic boundaries
        _OPEN_BOUNDARIES,
        # no checkerboard: all sites updated simultaneously
        _ALL_AT_ONCE,
        # a generator of its own instead of the rng passed in
        _METROPOLIS.replace("rng.random(s.shape)", "np.random.default_rng(0).random(s.shape)"),
        # changes the input array in place
        _IN_PLACE,
    ],
    "conv": [
        # zero padding instead of circular padding
        _CONV_ZERO_PADDING,
        # a true convolution (flipped kernel): the shift has the wrong sign
        _CONV.replace("shifts=(p_h - a, p_w - b)", "shifts=(a - p_h, b - p_w)"),
        # the bias is forgotten
        _CONV.replace("    if bias is not None:\n        out = out + bias[None, :, None, None]\n", ""),
        # the channel axes of the kernel swapped
        _CONV.replace('"oc,nchw->nohw"', '"co,nchw->nohw"'),
        # not your own convolution
        _conv_with_library(),
    ],
    "augment": [
        # flipped copies get the opposite label
        "def spin_flip_augment(X, y):\n    return torch.cat([X, -X]), torch.cat([y, 1 - y])",
        # only the flipped copies
        "def spin_flip_augment(X, y):\n    return -X, y.clone()",
        # interleaved instead of originals first
        "def spin_flip_augment(X, y):\n"
        "    return torch.stack([X, -X], dim=1).reshape(-1, *X.shape[1:]), torch.stack([y, y], dim=1).reshape(-1)",
        # a mirror image instead of the spin flip
        "def spin_flip_augment(X, y):\n    return torch.cat([X, torch.flip(X, dims=(-1,))]), torch.cat([y, y])",
    ],
    "cnn": [
        # zero padding: not translation invariant
        _CNN.replace('padding_mode="circular"', 'padding_mode="zeros"') + _TRAIN,
        # no spin-flip augmentation: all-down ordered lattices look disordered
        _CNN + _TRAIN.replace("X_aug, y_aug = spin_flip_augment(X, y)", "X_aug, y_aug = X, y"),
        # flatten + dense head instead of the global average
        _CNN_FLATTEN + _TRAIN,
        # labels inverted
        _CNN + _TRAIN.replace("y_aug[batch])", "1 - y_aug[batch])"),
        # forward returns a probability and training uses the plain BCE
        _CNN_SIGMOID + _TRAIN.replace("F.binary_cross_entropy_with_logits", "F.binary_cross_entropy"),
    ],
    "tc": [
        # np.interp on the reversed curve: right only for monotonic curves
        "def critical_temperature(temperatures, p):\n"
        "    return float(np.interp(0.5, np.asarray(p, dtype=float)[::-1], np.asarray(temperatures, dtype=float)[::-1]))",
        # the grid point closest to 1/2, no interpolation
        _TC_HEAD + "    return float(temperatures[np.argmin(np.abs(p - 0.5))])",
        # wrong sign in the interpolation
        _TC_HEAD + "    for k in range(len(p) - 1):\n        if p[k] >= 0.5 > p[k + 1]:\n"
        "            return float(temperatures[k] + (p[k] - 0.5) * (temperatures[k + 1] - temperatures[k]) / (p[k + 1] - p[k]))\n"
        "    raise ValueError('no crossing')",
        # the last crossing instead of the first
        _TC_HEAD + "    for k in reversed(range(len(p) - 1)):\n        if p[k] >= 0.5 > p[k + 1]:\n"
        "            return float(temperatures[k] + (0.5 - p[k]) * (temperatures[k + 1] - temperatures[k]) / (p[k + 1] - p[k]))\n"
        "    raise ValueError('no crossing')",
        # strict inequality on the upper point, and nan instead of an error
        _TC_HEAD + "    for k in range(len(p) - 1):\n        if p[k] > 0.5 >= p[k + 1]:\n"
        "            return float(temperatures[k] + (0.5 - p[k]) * (temperatures[k + 1] - temperatures[k]) / (p[k + 1] - p[k]))\n"
        "    return float('nan')",
        # Onsager's value, hard-coded
        "def critical_temperature(temperatures, p):\n    return 2.269185314213022",
    ],
    "optim": [
        # Adam without the bias correction
        'class SGDMomentum:\n    """SGD with momentum as torch.optim.SGD(params, lr, momentum): v <- mu v + g; p <- p - lr v."""\n\n    def __init__(self, params, lr=0.01, momentum=0.9):\n        self.params = list(params)\n        self.lr, self.momentum = lr, momentum\n        self.velocities = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        for p, v in zip(self.params, self.velocities):\n            if p.grad is None:\n                continue\n            v.mul_(self.momentum).add_(p.grad)\n            p.sub_(self.lr * v)\n\n\nclass Adam:\n    """Adam as torch.optim.Adam(params, lr, betas, eps), with bias correction and eps outside the root."""\n\n    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n        self.params = list(params)\n        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps\n        self.t = 0\n        self.m = [torch.zeros_like(p) for p in self.params]\n        self.v = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        self.t += 1\n        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t\n        for p, m, v in zip(self.params, self.m, self.v):\n            if p.grad is None:\n                continue\n            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)\n            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)\n            p.sub_(self.lr * m / (v.sqrt() + self.eps))',
        # Adam with eps under the square root
        'class SGDMomentum:\n    """SGD with momentum as torch.optim.SGD(params, lr, momentum): v <- mu v + g; p <- p - lr v."""\n\n    def __init__(self, params, lr=0.01, momentum=0.9):\n        self.params = list(params)\n        self.lr, self.momentum = lr, momentum\n        self.velocities = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        for p, v in zip(self.params, self.velocities):\n            if p.grad is None:\n                continue\n            v.mul_(self.momentum).add_(p.grad)\n            p.sub_(self.lr * v)\n\n\nclass Adam:\n    """Adam as torch.optim.Adam(params, lr, betas, eps), with bias correction and eps outside the root."""\n\n    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n        self.params = list(params)\n        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps\n        self.t = 0\n        self.m = [torch.zeros_like(p) for p in self.params]\n        self.v = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        self.t += 1\n        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t\n        for p, m, v in zip(self.params, self.m, self.v):\n            if p.grad is None:\n                continue\n            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)\n            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)\n            p.sub_(self.lr * (m / correction1) / (v / correction2 + self.eps).sqrt())',
        # SGD momentum with dampening: v <- mu v + (1 - mu) g
        'class SGDMomentum:\n    """SGD with momentum as torch.optim.SGD(params, lr, momentum): v <- mu v + g; p <- p - lr v."""\n\n    def __init__(self, params, lr=0.01, momentum=0.9):\n        self.params = list(params)\n        self.lr, self.momentum = lr, momentum\n        self.velocities = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        for p, v in zip(self.params, self.velocities):\n            if p.grad is None:\n                continue\n            v.mul_(self.momentum).add_(p.grad, alpha=1 - self.momentum)\n            p.sub_(self.lr * v)\n\n\nclass Adam:\n    """Adam as torch.optim.Adam(params, lr, betas, eps), with bias correction and eps outside the root."""\n\n    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n        self.params = list(params)\n        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps\n        self.t = 0\n        self.m = [torch.zeros_like(p) for p in self.params]\n        self.v = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        self.t += 1\n        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t\n        for p, m, v in zip(self.params, self.m, self.v):\n            if p.grad is None:\n                continue\n            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)\n            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)\n            p.sub_(self.lr * (m / correction1) / ((v / correction2).sqrt() + self.eps))',
        # Nesterov momentum instead of heavy ball
        'class SGDMomentum:\n    """SGD with momentum as torch.optim.SGD(params, lr, momentum): v <- mu v + g; p <- p - lr v."""\n\n    def __init__(self, params, lr=0.01, momentum=0.9):\n        self.params = list(params)\n        self.lr, self.momentum = lr, momentum\n        self.velocities = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        for p, v in zip(self.params, self.velocities):\n            if p.grad is None:\n                continue\n            v.mul_(self.momentum).add_(p.grad)\n            p.sub_(self.lr * (p.grad + self.momentum * v))\n\n\nclass Adam:\n    """Adam as torch.optim.Adam(params, lr, betas, eps), with bias correction and eps outside the root."""\n\n    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n        self.params = list(params)\n        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps\n        self.t = 0\n        self.m = [torch.zeros_like(p) for p in self.params]\n        self.v = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        self.t += 1\n        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t\n        for p, m, v in zip(self.params, self.m, self.v):\n            if p.grad is None:\n                continue\n            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)\n            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)\n            p.sub_(self.lr * (m / correction1) / ((v / correction2).sqrt() + self.eps))',
        # Adam's second moment of |g| instead of g^2
        'class SGDMomentum:\n    """SGD with momentum as torch.optim.SGD(params, lr, momentum): v <- mu v + g; p <- p - lr v."""\n\n    def __init__(self, params, lr=0.01, momentum=0.9):\n        self.params = list(params)\n        self.lr, self.momentum = lr, momentum\n        self.velocities = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        for p, v in zip(self.params, self.velocities):\n            if p.grad is None:\n                continue\n            v.mul_(self.momentum).add_(p.grad)\n            p.sub_(self.lr * v)\n\n\nclass Adam:\n    """Adam as torch.optim.Adam(params, lr, betas, eps), with bias correction and eps outside the root."""\n\n    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n        self.params = list(params)\n        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps\n        self.t = 0\n        self.m = [torch.zeros_like(p) for p in self.params]\n        self.v = [torch.zeros_like(p) for p in self.params]\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    @torch.no_grad()\n    def step(self):\n        self.t += 1\n        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t\n        for p, m, v in zip(self.params, self.m, self.v):\n            if p.grad is None:\n                continue\n            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)\n            v.mul_(self.beta2).add_(p.grad.abs(), alpha=1 - self.beta2)\n            p.sub_(self.lr * (m / correction1) / ((v / correction2).sqrt() + self.eps))',
    ],
    "resblock": [
        # no skip connection
        'class ResidualBlock(nn.Module):\n    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x)))))).\n\n    Attributes norm1, norm2: nn.BatchNorm2d(channels); conv1, conv2: nn.Conv2d(channels,\n    channels, 3, padding=1, padding_mode="circular"). Input and output of shape (N, channels, H, W).\n    """\n\n    def __init__(self, channels):\n        super().__init__()\n        self.norm1 = nn.BatchNorm2d(channels)\n        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")\n        self.norm2 = nn.BatchNorm2d(channels)\n        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")\n\n    def forward(self, x):\n        h = self.conv1(torch.relu(self.norm1(x)))\n        h = self.conv2(torch.relu(self.norm2(h)))\n        return h',
        # post-activation order: norm after the convolution
        'class ResidualBlock(nn.Module):\n    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x)))))).\n\n    Attributes norm1, norm2: nn.BatchNorm2d(channels); conv1, conv2: nn.Conv2d(channels,\n    channels, 3, padding=1, padding_mode="circular"). Input and output of shape (N, channels, H, W).\n    """\n\n    def __init__(self, channels):\n        super().__init__()\n        self.norm1 = nn.BatchNorm2d(channels)\n        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")\n        self.norm2 = nn.BatchNorm2d(channels)\n        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")\n\n    def forward(self, x):\n        h = torch.relu(self.norm1(self.conv1(x)))\n        h = self.norm2(self.conv2(h))\n        return x + h',
        # zero padding instead of circular
        'class ResidualBlock(nn.Module):\n    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x)))))).\n\n    Attributes norm1, norm2: nn.BatchNorm2d(channels); conv1, conv2: nn.Conv2d(channels,\n    channels, 3, padding=1, padding_mode="zeros"). Input and output of shape (N, channels, H, W).\n    """\n\n    def __init__(self, channels):\n        super().__init__()\n        self.norm1 = nn.BatchNorm2d(channels)\n        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="zeros")\n        self.norm2 = nn.BatchNorm2d(channels)\n        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="zeros")\n\n    def forward(self, x):\n        h = self.conv1(torch.relu(self.norm1(x)))\n        h = self.conv2(torch.relu(self.norm2(h)))\n        return x + h',
        # LayerNorm-like GroupNorm(1) instead of BatchNorm
        'class ResidualBlock(nn.Module):\n    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x)))))).\n\n    Attributes norm1, norm2: nn.GroupNorm(1, channels); conv1, conv2: nn.Conv2d(channels,\n    channels, 3, padding=1, padding_mode="circular"). Input and output of shape (N, channels, H, W).\n    """\n\n    def __init__(self, channels):\n        super().__init__()\n        self.norm1 = nn.GroupNorm(1, channels)\n        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")\n        self.norm2 = nn.GroupNorm(1, channels)\n        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="circular")\n\n    def forward(self, x):\n        h = self.conv1(torch.relu(self.norm1(x)))\n        h = self.conv2(torch.relu(self.norm2(h)))\n        return x + h',
    ],
    "early": [
        # the best weights are not restored
        'import copy\n\n\ndef train_early_stopping(model, optimiser, X_train, y_train, X_val, y_val, loss_fn,\n                         max_epochs=100, patience=5, batch_size=64):\n    """Train with mini-batches, monitor the validation loss, stop early, restore the best weights.\n\n    Returns\n    -------\n    train_losses : list of float    mean training loss of every epoch run\n    val_losses : list of float      validation loss after every epoch run (eval mode, no gradients)\n    best_epoch : int                0-based index of the epoch with the lowest validation loss;\n                                    model holds its weights on return (in eval() mode)\n    """\n    train_losses, val_losses = [], []\n    best_loss, best_epoch, best_state, waited = float("inf"), 0, copy.deepcopy(model.state_dict()), 0\n    for epoch in range(max_epochs):\n        model.train()\n        total = 0.0\n        for batch in torch.randperm(len(X_train)).split(batch_size):\n            loss = loss_fn(model(X_train[batch]), y_train[batch])\n            optimiser.zero_grad()\n            loss.backward()\n            optimiser.step()\n            total += loss.item() * len(batch)\n        train_losses.append(total / len(X_train))\n        model.eval()\n        with torch.no_grad():\n            val_losses.append(float(loss_fn(model(X_val), y_val)))\n        if val_losses[-1] < best_loss:\n            best_loss, best_epoch, best_state, waited = val_losses[-1], epoch, copy.deepcopy(model.state_dict()), 0\n        else:\n            waited += 1\n            if waited >= patience:\n                break\n    model.eval()\n    return train_losses, val_losses, best_epoch',
        # state_dict() without a copy: 'restores' the final weights
        'import copy\n\n\ndef train_early_stopping(model, optimiser, X_train, y_train, X_val, y_val, loss_fn,\n                         max_epochs=100, patience=5, batch_size=64):\n    """Train with mini-batches, monitor the validation loss, stop early, restore the best weights.\n\n    Returns\n    -------\n    train_losses : list of float    mean training loss of every epoch run\n    val_losses : list of float      validation loss after every epoch run (eval mode, no gradients)\n    best_epoch : int                0-based index of the epoch with the lowest validation loss;\n                                    model holds its weights on return (in eval() mode)\n    """\n    train_losses, val_losses = [], []\n    best_loss, best_epoch, best_state, waited = float("inf"), 0, model.state_dict(), 0\n    for epoch in range(max_epochs):\n        model.train()\n        total = 0.0\n        for batch in torch.randperm(len(X_train)).split(batch_size):\n            loss = loss_fn(model(X_train[batch]), y_train[batch])\n            optimiser.zero_grad()\n            loss.backward()\n            optimiser.step()\n            total += loss.item() * len(batch)\n        train_losses.append(total / len(X_train))\n        model.eval()\n        with torch.no_grad():\n            val_losses.append(float(loss_fn(model(X_val), y_val)))\n        if val_losses[-1] < best_loss:\n            best_loss, best_epoch, best_state, waited = val_losses[-1], epoch, model.state_dict(), 0\n        else:\n            waited += 1\n            if waited >= patience:\n                break\n    model.load_state_dict(best_state)\n    model.eval()\n    return train_losses, val_losses, best_epoch',
        # patience off by one
        'import copy\n\n\ndef train_early_stopping(model, optimiser, X_train, y_train, X_val, y_val, loss_fn,\n                         max_epochs=100, patience=5, batch_size=64):\n    """Train with mini-batches, monitor the validation loss, stop early, restore the best weights.\n\n    Returns\n    -------\n    train_losses : list of float    mean training loss of every epoch run\n    val_losses : list of float      validation loss after every epoch run (eval mode, no gradients)\n    best_epoch : int                0-based index of the epoch with the lowest validation loss;\n                                    model holds its weights on return (in eval() mode)\n    """\n    train_losses, val_losses = [], []\n    best_loss, best_epoch, best_state, waited = float("inf"), 0, copy.deepcopy(model.state_dict()), 0\n    for epoch in range(max_epochs):\n        model.train()\n        total = 0.0\n        for batch in torch.randperm(len(X_train)).split(batch_size):\n            loss = loss_fn(model(X_train[batch]), y_train[batch])\n            optimiser.zero_grad()\n            loss.backward()\n            optimiser.step()\n            total += loss.item() * len(batch)\n        train_losses.append(total / len(X_train))\n        model.eval()\n        with torch.no_grad():\n            val_losses.append(float(loss_fn(model(X_val), y_val)))\n        if val_losses[-1] < best_loss:\n            best_loss, best_epoch, best_state, waited = val_losses[-1], epoch, copy.deepcopy(model.state_dict()), 0\n        else:\n            waited += 1\n            if waited > patience:\n                break\n    model.load_state_dict(best_state)\n    model.eval()\n    return train_losses, val_losses, best_epoch',
        # never stops early
        'import copy\n\n\ndef train_early_stopping(model, optimiser, X_train, y_train, X_val, y_val, loss_fn,\n                         max_epochs=100, patience=5, batch_size=64):\n    """Train with mini-batches, monitor the validation loss, stop early, restore the best weights.\n\n    Returns\n    -------\n    train_losses : list of float    mean training loss of every epoch run\n    val_losses : list of float      validation loss after every epoch run (eval mode, no gradients)\n    best_epoch : int                0-based index of the epoch with the lowest validation loss;\n                                    model holds its weights on return (in eval() mode)\n    """\n    train_losses, val_losses = [], []\n    best_loss, best_epoch, best_state, waited = float("inf"), 0, copy.deepcopy(model.state_dict()), 0\n    for epoch in range(max_epochs):\n        model.train()\n        total = 0.0\n        for batch in torch.randperm(len(X_train)).split(batch_size):\n            loss = loss_fn(model(X_train[batch]), y_train[batch])\n            optimiser.zero_grad()\n            loss.backward()\n            optimiser.step()\n            total += loss.item() * len(batch)\n        train_losses.append(total / len(X_train))\n        model.eval()\n        with torch.no_grad():\n            val_losses.append(float(loss_fn(model(X_val), y_val)))\n        if val_losses[-1] < best_loss:\n            best_loss, best_epoch, best_state, waited = val_losses[-1], epoch, copy.deepcopy(model.state_dict()), 0\n        else:\n            waited += 1\n    model.load_state_dict(best_state)\n    model.eval()\n    return train_losses, val_losses, best_epoch',
        # the best epoch counted from 1
        'import copy\n\n\ndef train_early_stopping(model, optimiser, X_train, y_train, X_val, y_val, loss_fn,\n                         max_epochs=100, patience=5, batch_size=64):\n    """Train with mini-batches, monitor the validation loss, stop early, restore the best weights.\n\n    Returns\n    -------\n    train_losses : list of float    mean training loss of every epoch run\n    val_losses : list of float      validation loss after every epoch run (eval mode, no gradients)\n    best_epoch : int                0-based index of the epoch with the lowest validation loss;\n                                    model holds its weights on return (in eval() mode)\n    """\n    train_losses, val_losses = [], []\n    best_loss, best_epoch, best_state, waited = float("inf"), 0, copy.deepcopy(model.state_dict()), 0\n    for epoch in range(max_epochs):\n        model.train()\n        total = 0.0\n        for batch in torch.randperm(len(X_train)).split(batch_size):\n            loss = loss_fn(model(X_train[batch]), y_train[batch])\n            optimiser.zero_grad()\n            loss.backward()\n            optimiser.step()\n            total += loss.item() * len(batch)\n        train_losses.append(total / len(X_train))\n        model.eval()\n        with torch.no_grad():\n            val_losses.append(float(loss_fn(model(X_val), y_val)))\n        if val_losses[-1] < best_loss:\n            best_loss, best_epoch, best_state, waited = val_losses[-1], epoch, copy.deepcopy(model.state_dict()), 0\n        else:\n            waited += 1\n            if waited >= patience:\n                break\n    model.load_state_dict(best_state)\n    model.eval()\n    return train_losses, val_losses, best_epoch + 1',
    ],
}
