"""Correct alternative solutions for week11; each must keep full marks (grader_tests/test_alternatives.py)."""

_SAMPLER_POSTERIOR_VARIANCE = '''
def sample_ddpm(model, n, betas):
    """sigma_t^2 = the posterior variance (1 - abar_{t-1}) / (1 - abar_t) beta_t (Ho et al.'s other choice)."""
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype, device=abar.device), abar[:-1]])
    x = torch.randn(n, 2, device=betas.device)
    with torch.no_grad():
        for t in reversed(range(1, len(betas) + 1)):
            i = t - 1
            eps = model(x, torch.full((n,), t, dtype=torch.long, device=betas.device))
            mean = (x - betas[i] / torch.sqrt(1 - abar[i]) * eps) / torch.sqrt(alphas[i])
            if t == 1:
                x = mean
            else:
                var = (1 - abar_prev[i]) / (1 - abar[i]) * betas[i]
                x = mean + var.sqrt() * torch.randn(n, 2, device=betas.device)
    return x
'''

_SAMPLER_SCORE = '''
def sample_ddpm(model, n, betas):
    """Written with the score s = -eps / sqrt(1 - abar_t); noise drawn for all steps up front (other draw order)."""
    T = len(betas)
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, 0)
    noise = torch.randn(T, n, 2, device=betas.device)
    x = torch.randn(n, 2, device=betas.device)
    with torch.no_grad():
        for t in range(T, 0, -1):
            score = -model(x, torch.full((n,), t, dtype=torch.long, device=betas.device)) / (1 - abar[t - 1]).sqrt()
            x = (x + betas[t - 1] * score) / alphas[t - 1].sqrt()
            if t > 1:
                x = x + betas[t - 1].sqrt() * noise[t - 1]
    return x
'''

_TRAIN_GAUSSIAN_FOURIER = '''
class EpsilonMLP(nn.Module):
    """A learned embedding of t (nn.Embedding) instead of sines, GELU, two hidden layers."""

    def __init__(self, hidden=128, T=100):
        super().__init__()
        self.T = T
        self.embed = nn.Embedding(T + 1, 16)
        self.net = nn.Sequential(nn.Linear(2 + 16, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 2))

    def forward(self, x, t):
        return self.net(torch.cat([x, self.embed(t.long())], dim=-1))


def train_ddpm(model, x_data, alpha_bar, n_steps, batch_size=512, lr=3e-3):
    """Noise first, then t, then the batch (another draw order); no learning-rate schedule."""
    dev = next(model.parameters()).device
    x_data, alpha_bar = x_data.to(dev), alpha_bar.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_steps):
        noise = torch.randn(batch_size, x_data.shape[1], device=dev)
        t = torch.randint(1, len(alpha_bar) + 1, (batch_size,), device=dev)
        x0 = x_data[torch.randperm(len(x_data), device=dev)[:batch_size]]
        loss = ddpm_loss(model, x0, t, noise, alpha_bar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses
'''

_TRAIN_REFERENCE_WIDER = '''
class EpsilonMLP(nn.Module):
    """The suggested embedding computed in float64 and cast; LayerNorm after the first layer."""

    def __init__(self, hidden=128, T=100):
        super().__init__()
        self.T = T
        self.net = nn.Sequential(nn.Linear(12, hidden), nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x, t):
        tt = t.double().unsqueeze(-1)
        k = torch.arange(1, 5, dtype=torch.float64, device=x.device)
        feats = torch.cat([torch.sin(k * math.pi * tt / self.T), torch.cos(k * math.pi * tt / self.T), tt / self.T,
                           torch.log(tt) / math.log(max(self.T, 2))], dim=-1).to(x.dtype)
        return self.net(torch.cat([x, feats], dim=-1))


def train_ddpm(model, x_data, alpha_bar, n_steps, batch_size=512, lr=3e-3):
    dev = next(model.parameters()).device
    x_data, alpha_bar = x_data.to(dev), alpha_bar.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / n_steps)))
    losses = []
    for _ in range(n_steps):
        idx = torch.randint(len(x_data), (batch_size,), device=dev)
        t = torch.randint(1, len(alpha_bar) + 1, (batch_size,), device=dev)
        x0 = x_data[idx]
        loss = ddpm_loss(model, x0, t, torch.randn_like(x0), alpha_bar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses
'''

ALTERNATIVES = {
    "limits": [
        # Kaellen function form of the momenta, float64 arrays
        "def dalitz_limits(s12, M, m1, m2, m3):\n"
        "    s12 = np.asarray(s12, dtype=float)\n"
        "    lam = lambda a, b, c: a**2 + b**2 + c**2 - 2 * (a * b + a * c + b * c)\n"
        "    e1 = (s12 - m2**2 + m1**2) / (2 * np.sqrt(s12))\n"
        "    e3 = (M**2 - s12 - m3**2) / (2 * np.sqrt(s12))\n"
        "    p1 = np.sqrt(np.maximum(lam(s12, m1**2, m2**2), 0)) / (2 * np.sqrt(s12))\n"
        "    p3 = np.sqrt(np.maximum(lam(M**2, s12, m3**2), 0)) / (2 * np.sqrt(s12))\n"
        "    c = (e1 + e3) ** 2\n"
        "    return c - (p1 + p3) ** 2, c - (p1 - p3) ** 2",
        # a loop over the values, returning lists
        "def dalitz_limits(s12, M, m1, m2, m3):\n"
        "    lo, hi = [], []\n"
        "    for s in np.atleast_1d(s12):\n"
        "        r = math.sqrt(s)\n"
        "        e1, e3 = (s - m2**2 + m1**2) / (2 * r), (M**2 - s - m3**2) / (2 * r)\n"
        "        p1, p3 = math.sqrt(max(e1**2 - m1**2, 0.0)), math.sqrt(max(e3**2 - m3**2, 0.0))\n"
        "        lo.append((e1 + e3) ** 2 - (p1 + p3) ** 2)\n"
        "        hi.append((e1 + e3) ** 2 - (p1 - p3) ** 2)\n"
        "    return np.array(lo), np.array(hi)",
    ],
    "forward": [
        # float64 schedule, alpha_bar from the log-sum, gather-based q_sample
        "def linear_beta_schedule(T, beta_1, beta_T):\n"
        "    betas = torch.tensor(np.linspace(beta_1, beta_T, T))\n"
        "    alphas = 1 - betas\n"
        "    return betas, alphas, torch.exp(torch.cumsum(torch.log(alphas), 0))\n"
        "def q_sample(x0, t, noise, alpha_bar):\n"
        "    a = torch.gather(alpha_bar.to(x0.dtype), 0, (t - 1).long())[:, None]\n"
        "    return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * noise",
        # a loop over T for the product, index with a list
        "def linear_beta_schedule(T, beta_1, beta_T):\n"
        "    betas = torch.tensor([beta_1 + (beta_T - beta_1) * k / max(T - 1, 1) for k in range(T)], dtype=torch.float32)\n"
        "    alphas = 1.0 - betas\n"
        "    abar, prod = [], 1.0\n"
        "    for a in alphas.tolist():\n"
        "        prod *= a\n"
        "        abar.append(prod)\n"
        "    return betas, alphas, torch.tensor(abar, dtype=torch.float32)\n"
        "def q_sample(x0, t, noise, alpha_bar):\n"
        "    out = torch.empty_like(x0)\n"
        "    for i, ti in enumerate(t.tolist()):\n"
        "        a = alpha_bar[ti - 1]\n"
        "        out[i] = a.sqrt() * x0[i] + (1 - a).sqrt() * noise[i]\n"
        "    return out",
    ],
    "loss": [
        "def ddpm_loss(model, x0, t, noise, alpha_bar):\n"
        "    return torch.nn.functional.mse_loss(model(q_sample(x0, t, noise, alpha_bar), t), noise)",
        "def ddpm_loss(model, x0, t, noise, alpha_bar):\n"
        "    x_t = q_sample(x0, t, noise, alpha_bar)\n"
        "    return ((noise - model(x_t, t)) ** 2).sum(dim=1).mean() / noise.shape[1]",
    ],
    "train": [_TRAIN_GAUSSIAN_FOURIER, _TRAIN_REFERENCE_WIDER],
    "sampler": [_SAMPLER_POSTERIOR_VARIANCE, _SAMPLER_SCORE],
}
