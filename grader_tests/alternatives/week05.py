"""Correct alternative solutions for week05; each must keep full marks (grader_tests/test_alternatives.py).

Same shape as grader_tests/mutants/week05.py: ``ALTERNATIVES = {task: [code, ...]}``, each code
redefines the task's functions.
"""

_TRAIN_LOADER = '''
def train_ising_cnn(X, y, epochs=6, seed=0, lr=5e-3, batch_size=32):
    torch.manual_seed(seed)
    X_aug, y_aug = spin_flip_augment(X, y)
    data = torch.utils.data.TensorDataset(X_aug.float(), y_aug.float())
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True)
    model = IsingCNN().to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    for _ in range(epochs):
        model.train()
        batch_losses = []
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.binary_cross_entropy_with_logits(model(xb), yb)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            batch_losses.append(loss.item())
        losses.append(float(np.mean(batch_losses)))
    model.eval()
    return model, losses
'''

ALTERNATIVES = {
    "metropolis": [
        # random numbers drawn only for the sites of the sublattice being updated (another
        # number and order of draws), flips by boolean indexing
        "def metropolis(spins, beta, n_sweeps, rng):\n"
        "    s = np.array(spins, copy=True)\n"
        "    beta = np.broadcast_to(np.asarray(beta, dtype=float)[..., None, None], s.shape)\n"
        "    i, j = np.indices(s.shape[-2:])\n"
        "    for _ in range(n_sweeps):\n"
        "        for parity in (0, 1):\n"
        "            mask = np.broadcast_to((i + j) % 2 == parity, s.shape)\n"
        "            nb = np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2)\n"
        "            d_e = 2.0 * s[mask] * nb[mask]\n"
        "            flip = rng.random(d_e.shape) < np.exp(-beta[mask] * d_e)\n"
        "            sub = s[mask]\n"
        "            sub[flip] *= -1\n"
        "            s[mask] = sub\n"
        "    return s",
        # all random numbers of a sweep in one draw, acceptance min(1, exp(-beta dE)), float spins
        "def metropolis(spins, beta, n_sweeps, rng):\n"
        "    s = np.asarray(spins, dtype=float).copy()\n"
        "    beta = np.asarray(beta, dtype=float)[..., None, None]\n"
        "    i, j = np.indices(s.shape[-2:])\n"
        "    even = (i + j) % 2 == 0\n"
        "    for _ in range(n_sweeps):\n"
        "        u = rng.random((2,) + s.shape)\n"
        "        for k, sub in enumerate((even, ~even)):\n"
        "            d_e = 2 * s * (np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2))\n"
        "            accept = u[k] < np.minimum(1.0, np.exp(-beta * d_e))\n"
        "            s = np.where(sub & accept, -s, s)\n"
        "    return s",
    ],
    "conv": [
        # patches with F.unfold on a circularly padded input, one matrix product
        "def conv2d_circular(x, weight, bias=None):\n"
        "    n, _, h, w = x.shape\n"
        "    c_out, _, k_h, k_w = weight.shape\n"
        "    p_h, p_w = (k_h - 1) // 2, (k_w - 1) // 2\n"
        "    cols = F.unfold(F.pad(x, (p_w, p_w, p_h, p_h), mode='circular'), (k_h, k_w))\n"
        "    out = (weight.reshape(c_out, -1) @ cols).reshape(n, c_out, h, w)\n"
        "    return out if bias is None else out + bias.view(1, -1, 1, 1)",
        # wrap-around padding by concatenation, then slices of the padded input
        "def conv2d_circular(x, weight, bias=None):\n"
        "    k_h, k_w = weight.shape[-2:]\n"
        "    p_h, p_w = (k_h - 1) // 2, (k_w - 1) // 2\n"
        "    h, w = x.shape[-2:]\n"
        "    xp = torch.cat([x[..., h - p_h:, :], x, x[..., :p_h, :]], dim=-2) if p_h else x\n"
        "    xp = torch.cat([xp[..., w - p_w:], xp, xp[..., :p_w]], dim=-1) if p_w else xp\n"
        "    out = torch.zeros(x.shape[0], weight.shape[0], h, w, dtype=x.dtype)\n"
        "    for a in range(k_h):\n"
        "        for b in range(k_w):\n"
        "            out = out + torch.einsum('nchw,oc->nohw', xp[..., a:a + h, b:b + w], weight[:, :, a, b])\n"
        "    if bias is not None:\n"
        "        out = out + bias[:, None, None]\n"
        "    return out",
    ],
    "augment": [
        # a preallocated tensor filled in two halves; the labels repeated
        "def spin_flip_augment(X, y):\n"
        "    n = len(X)\n"
        "    X_aug = torch.empty((2 * n,) + tuple(X.shape[1:]), dtype=X.dtype)\n"
        "    X_aug[:n] = X\n"
        "    X_aug[n:] = -X\n"
        "    return X_aug, y.repeat(2)",
        # vstack / hstack
        "def spin_flip_augment(X, y):\n"
        "    return torch.vstack((X, X * -1)), torch.hstack((y, y))",
    ],
    "cnn": [
        # wider (12 channels), LeakyReLU, a DataLoader, AdamW, mean of batch losses
        "class IsingCNN(nn.Module):\n"
        "    def __init__(self, channels=12):\n"
        "        super().__init__()\n"
        "        self.features = nn.Sequential(\n"
        "            nn.Conv2d(1, channels, 3, padding=1, padding_mode='circular'), nn.LeakyReLU(0.05),\n"
        "            nn.Conv2d(channels, channels, 3, padding=1, padding_mode='circular'), nn.LeakyReLU(0.05))\n"
        "        self.head = nn.Linear(channels, 1)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.features(x).mean(dim=(2, 3)))[:, 0]\n" + _TRAIN_LOADER,
        # explicit circular padding with F.pad, tanh, global average and global max pooling,
        # the sheet's training loop with plain per-batch means
        "class IsingCNN(nn.Module):\n"
        "    def __init__(self, channels=8):\n"
        "        super().__init__()\n"
        "        self.conv1 = nn.Conv2d(1, channels, 3)\n"
        "        self.conv2 = nn.Conv2d(channels, channels, 3)\n"
        "        self.head = nn.Linear(2 * channels, 1)\n\n"
        "    def forward(self, x):\n"
        "        h = torch.tanh(self.conv1(F.pad(x, (1, 1, 1, 1), mode='circular')))\n"
        "        h = torch.tanh(self.conv2(F.pad(h, (1, 1, 1, 1), mode='circular')))\n"
        "        pooled = torch.cat([h.mean(dim=(-2, -1)), h.amax(dim=(-2, -1))], dim=1)\n"
        "        return self.head(pooled).reshape(-1)\n\n\n"
        "def train_ising_cnn(X, y, epochs=5, seed=0, lr=1e-2, batch_size=64):\n"
        "    torch.manual_seed(seed)\n"
        "    X_aug, y_aug = spin_flip_augment(X, y)\n"
        "    model = IsingCNN().to(device)\n"
        "    optimiser = torch.optim.Adam(model.parameters(), lr=lr)\n"
        "    losses = []\n"
        "    for _ in range(epochs):\n"
        "        model.train()\n"
        "        perm = torch.randperm(len(X_aug))\n"
        "        batch_losses = []\n"
        "        for k in range(0, len(perm), batch_size):\n"
        "            idx = perm[k:k + batch_size]\n"
        "            logits = model(X_aug[idx].float().to(device))\n"
        "            loss = F.binary_cross_entropy_with_logits(logits, y_aug[idx].float().to(device))\n"
        "            optimiser.zero_grad()\n"
        "            loss.backward()\n"
        "            optimiser.step()\n"
        "            batch_losses.append(loss.item())\n"
        "        losses.append(sum(batch_losses) / len(batch_losses))\n"
        "    return model.eval(), losses",
    ],
    "tc": [
        # vectorised search, np.interp on the two points of the crossing
        "def critical_temperature(temperatures, p):\n"
        "    T, p = np.asarray(temperatures, dtype=float), np.asarray(p, dtype=float)\n"
        "    k = np.nonzero((p[:-1] >= 0.5) & (p[1:] < 0.5))[0]\n"
        "    if len(k) == 0:\n"
        "        raise ValueError('P(ordered) never falls through 1/2')\n"
        "    k = k[0]\n"
        "    return float(np.interp(0.5, [p[k + 1], p[k]], [T[k + 1], T[k]]))",
        # plain Python over pairs of points
        "def critical_temperature(temperatures, p):\n"
        "    points = list(zip([float(t) for t in temperatures], [float(v) for v in p]))\n"
        "    for (t0, p0), (t1, p1) in zip(points, points[1:]):\n"
        "        if p0 >= 0.5 and p1 < 0.5:\n"
        "            return t0 + (t1 - t0) * (p0 - 0.5) / (p0 - p1)\n"
        "    raise ValueError('no downward crossing of 1/2')",
    ],
    "optim": [
        # Sutskever's momentum (v <- mu v + lr g; p <- p - v: the same for a constant lr); Adam as torch
        # writes it (step lr / c1, denominator sqrt(v) / sqrt(c2) + eps); state in dicts, updates through .data
        "class SGDMomentum:\n    def __init__(self, params, lr=0.01, momentum=0.9):\n        self.params = list(params)\n        self.lr, self.momentum = lr, momentum\n        self.state = {}\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    def step(self):\n        for k, p in enumerate(self.params):\n            if p.grad is None:\n                continue\n            v = self.momentum * self.state.get(k, torch.zeros_like(p.data)) + self.lr * p.grad\n            self.state[k] = v\n            p.data = p.data - v\n\n\nclass Adam:\n    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n        self.params = list(params)\n        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps\n        self.state = {}\n\n    def zero_grad(self):\n        for p in self.params:\n            p.grad = None\n\n    def step(self):\n        for k, p in enumerate(self.params):\n            if p.grad is None:\n                continue\n            s = self.state.setdefault(k, {'t': 0, 'm': torch.zeros_like(p.data), 'v': torch.zeros_like(p.data)})\n            s['t'] += 1\n            g = p.grad.detach()\n            s['m'] = self.beta1 * s['m'] + (1 - self.beta1) * g\n            s['v'] = self.beta2 * s['v'] + (1 - self.beta2) * g * g\n            c1, c2 = 1 - self.beta1 ** s['t'], 1 - self.beta2 ** s['t']\n            denom = s['v'].sqrt() / math.sqrt(c2) + self.eps\n            p.data = p.data - (self.lr / c1) * s['m'] / denom\n\n\nimport math",
        # torch.optim's own classes behind the sheet's names
        'class SGDMomentum(torch.optim.SGD):\n    def __init__(self, params, lr=0.01, momentum=0.9):\n        super().__init__(params, lr=lr, momentum=momentum)\n\n\nclass Adam(torch.optim.Adam):\n    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n        super().__init__(params, lr=lr, betas=betas, eps=eps)',
    ],
    "resblock": [
        # nn.ReLU module, layers registered in another order, h + x
        "class ResidualBlock(nn.Module):\n    def __init__(self, channels):\n        super().__init__()\n        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, padding_mode='circular')\n        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, padding_mode='circular')\n        self.norm2, self.norm1 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)\n        self.act = nn.ReLU()\n\n    def forward(self, x):\n        return self.conv2(self.act(self.norm2(self.conv1(self.act(self.norm1(x)))))) + x",
        # circular padding by hand (F.pad) with unpadded convolutions
        "class ResidualBlock(nn.Module):\n    def __init__(self, channels):\n        super().__init__()\n        self.norm1 = nn.BatchNorm2d(channels)\n        self.conv1 = nn.Conv2d(channels, channels, 3)\n        self.norm2 = nn.BatchNorm2d(channels)\n        self.conv2 = nn.Conv2d(channels, channels, 3)\n\n    def forward(self, x):\n        pad = lambda h: F.pad(h, (1, 1, 1, 1), mode='circular')\n        h = self.conv1(pad(F.relu(self.norm1(x))))\n        return x + self.conv2(pad(F.relu(self.norm2(h))))",
    ],
    "early": [
        # a DataLoader, the best state as cloned tensors, epochs counted since the best one
        'def train_early_stopping(model, optimiser, X_train, y_train, X_val, y_val, loss_fn,\n                         max_epochs=100, patience=5, batch_size=64):\n    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train),\n                                         batch_size=batch_size, shuffle=True)\n    train_losses, val_losses, best_epoch, best_state = [], [], -1, None\n    for epoch in range(max_epochs):\n        model.train()\n        weighted, count = 0.0, 0\n        for xb, yb in loader:\n            optimiser.zero_grad()\n            loss = loss_fn(model(xb), yb)\n            loss.backward()\n            optimiser.step()\n            weighted += float(loss) * len(xb)\n            count += len(xb)\n        train_losses.append(weighted / count)\n        model.eval()\n        with torch.no_grad():\n            val_losses.append(loss_fn(model(X_val), y_val).item())\n        if best_epoch < 0 or val_losses[-1] < val_losses[best_epoch]:\n            best_epoch = epoch\n            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}\n        elif epoch - best_epoch >= patience:\n            break\n    model.load_state_dict(best_state)\n    model.eval()\n    return train_losses, val_losses, best_epoch',
    ],
}
