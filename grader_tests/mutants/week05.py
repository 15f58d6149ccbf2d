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
}
