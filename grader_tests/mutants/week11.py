"""Plausible wrong answers for week11; each must lose points (grader_tests/test_mutants.py)."""

_LIMITS = '''
def dalitz_limits(s12, M, m1, m2, m3):
    s12 = np.asarray(s12, dtype=float)
    root = np.sqrt(s12)
    e1 = (s12 - m2**2 + m1**2) / (2 * root)
    e3 = (M**2 - s12 - m3**2) / (2 * root)
    p1 = np.sqrt(np.clip(e1**2 - m1**2, 0.0, None))
    p3 = np.sqrt(np.clip(e3**2 - m3**2, 0.0, None))
    return (e1 + e3) ** 2 - (p1 + p3) ** 2, (e1 + e3) ** 2 - (p1 - p3) ** 2
'''

_FORWARD = '''
def linear_beta_schedule(T, beta_1, beta_T):
    betas = torch.linspace(beta_1, beta_T, T, dtype=torch.float32)
    alphas = 1.0 - betas
    return betas, alphas, ALPHA_BAR

def q_sample(x0, t, noise, alpha_bar):
    a = alpha_bar[t - 1].unsqueeze(-1)
    return Q_SAMPLE
'''


def _forward(alpha_bar="torch.cumprod(alphas, dim=0)", q="a.sqrt() * x0 + (1.0 - a).sqrt() * noise"):
    return _FORWARD.replace("ALPHA_BAR", alpha_bar).replace("Q_SAMPLE", q)


_LOSS = '''
def ddpm_loss(model, x0, t, noise, alpha_bar):
    x_t = q_sample(x0, t, noise, alpha_bar)
    return LOSS
'''

_TRAIN = '''
class EpsilonMLP(nn.Module):
    def __init__(self, hidden=128, T=100):
        super().__init__()
        self.T = T
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2))

    def forward(self, x, t):
        return self.net(torch.cat([x, (t.float() / self.T).unsqueeze(-1)], dim=-1))


def train_ddpm(model, x_data, alpha_bar, n_steps, batch_size=512, lr=3e-3):
    T = len(alpha_bar)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(n_steps):
        x0 = x_data[torch.randint(0, len(x_data), (batch_size,))]
        t = DRAW_T
        loss = ddpm_loss(model, x0, t, NOISE, alpha_bar)
        optimizer.zero_grad()
        LOSS_BACKWARD.backward()
        STEP
        losses.append(loss.item())
    return losses
'''


def _train(draw_t="torch.randint(1, T + 1, (batch_size,))", noise="torch.randn_like(x0)",
           backward="loss", step="optimizer.step()"):
    return (_TRAIN.replace("DRAW_T", draw_t).replace("NOISE", noise)
            .replace("LOSS_BACKWARD", backward).replace("STEP", step))


_SAMPLER = '''
def sample_ddpm(model, n, betas):
    alphas = 1.0 - betas
    alpha_bar = torch.cumprod(alphas, dim=0)
    T = len(betas)
    x = torch.randn(n, 2)
    with torch.no_grad():
        for t in range(T, 0, -1):
            eps = model(x, torch.full((n,), t, dtype=torch.long))
            x = MEAN
            if NOISE_CONDITION:
                x = x + SIGMA * torch.randn_like(x)
    return x
'''


def _sampler(mean="(x - betas[t - 1] / (1 - alpha_bar[t - 1]).sqrt() * eps) / alphas[t - 1].sqrt()",
             cond="t > 1", sigma="betas[t - 1].sqrt()"):
    return _SAMPLER.replace("MEAN", mean).replace("NOISE_CONDITION", cond).replace("SIGMA", sigma)


MUTANTS = {
    "limits": [
        # min and max swapped
        _LIMITS.replace("return (e1 + e3) ** 2 - (p1 + p3) ** 2, (e1 + e3) ** 2 - (p1 - p3) ** 2",
                        "return (e1 + e3) ** 2 - (p1 - p3) ** 2, (e1 + e3) ** 2 - (p1 + p3) ** 2"),
        # energy of particle 2 instead of particle 1 in the (12) frame
        _LIMITS.replace("e1 = (s12 - m2**2 + m1**2) / (2 * root)", "e1 = (s12 + m2**2 - m1**2) / (2 * root)"),
        # m2 instead of m3 for the spectator
        _LIMITS.replace("e3 = (M**2 - s12 - m3**2) / (2 * root)", "e3 = (M**2 - s12 - m2**2) / (2 * root)")
               .replace("p3 = np.sqrt(np.clip(e3**2 - m3**2", "p3 = np.sqrt(np.clip(e3**2 - m2**2"),
        # hard-coded D0 masses
        _LIMITS.replace("    s12 = np.asarray(s12, dtype=float)\n",
                        "    s12 = np.asarray(s12, dtype=float)\n    M, m1, m2, m3 = M_D, M_K, M_PI, M_PI0\n"),
    ],
    "forward": [
        # no cumulative product
        _forward(alpha_bar="alphas"),
        # off by one: alpha_bar starts at 1 (index t means "after t - 1 steps")
        _forward(alpha_bar="torch.cat([torch.ones(1), torch.cumprod(alphas, dim=0)[:-1]])"),
        # mean coefficient without the square root
        _forward(q="a * x0 + (1.0 - a).sqrt() * noise"),
        # standard deviation without the square root
        _forward(q="a.sqrt() * x0 + (1.0 - a) * noise"),
    ],
    "loss": [
        # regresses x0 instead of the noise
        _LOSS.replace("LOSS", "((x0 - model(x_t, t)) ** 2).mean()"),
        # the model sees the clean data
        _LOSS.replace("LOSS", "((noise - model(x0, t)) ** 2).mean()"),
        # sum instead of mean
        _LOSS.replace("LOSS", "((noise - model(x_t, t)) ** 2).sum()"),
        # step index shifted when calling the model
        _LOSS.replace("LOSS", "((noise - model(x_t, t - 1)) ** 2).mean()"),
    ],
    "train": [
        # gradient ascent
        _train(backward="(-loss)"),
        # never steps the optimiser
        _train(step="pass"),
        # always the noisiest step
        _train(draw_t="torch.full((batch_size,), T)"),
        # no noise: the model learns nothing useful
        _train(noise="torch.zeros_like(x0)"),
    ],
    "sampler": [
        # no noise at all (deterministic sampler with the stochastic mean)
        _sampler(cond="False"),
        # noise also in the last step
        _sampler(cond="True"),
        # beta / (1 - alpha_bar) without the square root
        _sampler(mean="(x - betas[t - 1] / (1 - alpha_bar[t - 1]) * eps) / alphas[t - 1].sqrt()"),
        # forgets the 1 / sqrt(alpha_t)
        _sampler(mean="x - betas[t - 1] / (1 - alpha_bar[t - 1]).sqrt() * eps"),
        # sigma_t = beta_t instead of sqrt(beta_t)
        _sampler(sigma="betas[t - 1]"),
    ],
}
