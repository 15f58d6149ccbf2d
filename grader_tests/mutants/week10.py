"""Plausible wrong answers for week10; each must lose points (grader_tests/test_mutants.py)."""

_COUPLING = '''
import torch.nn as nn

def checkerboard_mask(L1, L2, parity):
    i = torch.arange(L1)[:, None]
    j = torch.arange(L2)[None, :]
    return ((i + j) % 2 == parity).float()

class AffineCoupling(nn.Module):
    def __init__(self, mask, hidden=32):
        super().__init__()
        self.register_buffer("mask", mask.float())
        n = mask.numel()
        self.net = nn.Sequential(nn.Linear(n, hidden), nn.Tanh(), nn.Linear(hidden, 2 * n))

    def _s_t(self, x):
        b = x.shape[0]
        out = self.net((MASKED_INPUT).reshape(b, -1)).reshape(b, 2, *self.mask.shape)
        return torch.tanh(out[:, 0]) * S_MASK, out[:, 1] * (1 - self.mask)

    def forward(self, x):
        s, t = self._s_t(x)
        y = self.mask * x + (1 - self.mask) * (x * torch.exp(s) + t)
        return y, LOGDET_SIGN s.sum(dim=(-2, -1))

    def inverse(self, y):
        s, t = self._s_t(y)
        x = self.mask * y + (1 - self.mask) * (y - t) * torch.exp(INV_SIGN s)
        return x, -(LOGDET_SIGN s.sum(dim=(-2, -1)))
'''


def _coupling(masked_input="x * self.mask", s_mask="(1 - self.mask)", logdet_sign="", inv_sign="-"):
    return (_COUPLING.replace("MASKED_INPUT", masked_input).replace("S_MASK", s_mask)
            .replace("LOGDET_SIGN", logdet_sign).replace("INV_SIGN", inv_sign))


_FLOW = '''
class RealNVPFlow(nn.Module):
    def __init__(self, L1, L2, n_layers=6, hidden=32):
        super().__init__()
        self.shape = (L1, L2)
        self.layers = nn.ModuleList([AffineCoupling(checkerboard_mask(L1, L2, PARITY), hidden)
                                     for k in range(n_layers)])

    def _log_prior(self, z):
        return (-0.5 * z**2 PRIOR_CONST).sum(dim=(-2, -1))

    def forward(self, z):
        log_det = torch.zeros(z.shape[0])
        for layer in self.layers:
            z, ld = layer(z)
            log_det = log_det + ld
        return z, log_det

    def sample(self, n):
        z = torch.randn(n, *self.shape)
        phi, log_det = self.forward(z)
        return phi, self._log_prior(z) LOGQ_SIGN log_det

    def log_prob(self, phi):
        total = torch.zeros(phi.shape[0])
        for layer in reversed(self.layers):
            phi, ld = layer.inverse(phi)
            total = total + ld
        return self._log_prior(phi) + LOGPROB_SIGN total
'''


def _flow(parity="k % 2", prior_const="- 0.5 * math.log(2 * math.pi)", logq_sign="-", logprob_sign=""):
    return (_FLOW.replace("PARITY", parity).replace("PRIOR_CONST", prior_const)
            .replace("LOGQ_SIGN", logq_sign).replace("LOGPROB_SIGN", logprob_sign))


_TRAIN = '''
def train_flow(flow, m2, lam, n_steps, batch_size=256, lr=3e-3):
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_steps)
    losses = []
    for _ in range(n_steps):
        phi, log_q = flow.sample(batch_size)
        loss = (LOSS).mean()
        optimizer.zero_grad()
        loss.backward()
        STEP
        schedule.step()
        losses.append(float((log_q + phi4_action(phi, m2, lam)).mean()))
    return losses
'''


def _train(loss="log_q + phi4_action(phi, m2, lam)", step="optimizer.step()"):
    return _TRAIN.replace("LOSS", loss).replace("STEP", step)


MUTANTS = {
    "action": [
        # only one lattice direction in the kinetic term
        "def phi4_action(phi, m2, lam):\n"
        "    kin = (torch.roll(phi, -1, dims=-1) - phi) ** 2\n"
        "    return (kin + m2 * phi**2 + lam * phi**4).sum(dim=(-2, -1))",
        # rolls over the first two axes (the batch axis for a batch of fields)
        "def phi4_action(phi, m2, lam):\n"
        "    kin = sum((torch.roll(phi, -1, dims=a) - phi) ** 2 for a in (0, 1))\n"
        "    return (kin + m2 * phi**2 + lam * phi**4).sum(dim=(-2, -1))",
        # open boundaries (torch.diff drops the wrap-around bond)
        "def phi4_action(phi, m2, lam):\n"
        "    kin = (torch.diff(phi, dim=-1) ** 2).sum(dim=(-2, -1)) + (torch.diff(phi, dim=-2) ** 2).sum(dim=(-2, -1))\n"
        "    return kin + (m2 * phi**2 + lam * phi**4).sum(dim=(-2, -1))",
        # the continuum-style 1/2 in front of the kinetic term
        "def phi4_action(phi, m2, lam):\n"
        "    kin = sum((torch.roll(phi, -1, dims=a) - phi) ** 2 for a in (-2, -1))\n"
        "    return (0.5 * kin + m2 * phi**2 + lam * phi**4).sum(dim=(-2, -1))",
        # goes through numpy: no gradient
        "def phi4_action(phi, m2, lam):\n"
        "    p = phi.detach().numpy()\n"
        "    kin = sum((np.roll(p, -1, axis=a) - p) ** 2 for a in (-2, -1))\n"
        "    return torch.tensor((kin + m2 * p**2 + lam * p**4).sum(axis=(-2, -1)))",
    ],
    "ess": [
        # ESS as a count, not a fraction
        "def effective_sample_size(log_w):\n"
        "    w = torch.exp(log_w.double() - log_w.double().max())\n"
        "    return float(w.sum() ** 2 / (w**2).sum())\n"
        "def reweight(observable, log_w):\n"
        "    w = torch.exp(log_w.double() - log_w.double().max())\n"
        "    return float((w * observable.double()).sum() / w.sum())",
        # naive exponentials: overflow for large log-weights
        "def effective_sample_size(log_w):\n"
        "    w = torch.exp(log_w)\n"
        "    return float(w.sum() ** 2 / (len(w) * (w**2).sum()))\n"
        "def reweight(observable, log_w):\n"
        "    w = torch.exp(log_w)\n"
        "    return float((w * observable).sum() / w.sum())",
        # not self-normalised: mean of w O with w scaled to max 1
        "def effective_sample_size(log_w):\n"
        "    w = torch.exp(log_w.double() - log_w.double().max())\n"
        "    return float(w.sum() ** 2 / (len(w) * (w**2).sum()))\n"
        "def reweight(observable, log_w):\n"
        "    w = torch.exp(log_w.double() - log_w.double().max())\n"
        "    return float((w * observable.double()).mean())",
        # weights with the wrong sign, exp(-log_w)
        "def effective_sample_size(log_w):\n"
        "    w = torch.exp(-log_w.double() + log_w.double().min())\n"
        "    return float(w.sum() ** 2 / (len(w) * (w**2).sum()))\n"
        "def reweight(observable, log_w):\n"
        "    w = torch.exp(-log_w.double() + log_w.double().min())\n"
        "    return float((w * observable.double()).sum() / w.sum())",
    ],
    "coupling": [
        # log-det with the wrong sign
        _coupling(logdet_sign="-"),
        # the conditioner sees the whole field: not invertible with the same s, t
        _coupling(masked_input="x"),
        # s not masked: log-det sums s over the frozen sites too (y is still masked)
        _coupling(s_mask="1"),
        # inverse multiplies by exp(+s)
        _coupling(inv_sign="+"),
        # striped mask from a reshaped arange (wrong for even L2)
        _coupling().replace("    i = torch.arange(L1)[:, None]\n    j = torch.arange(L2)[None, :]\n"
                            "    return ((i + j) % 2 == parity).float()",
                            "    return (torch.arange(L1 * L2).reshape(L1, L2) % 2 == parity).float()"),
    ],
    "flow": [
        # all layers with the same parity: half of the sites are never transformed
        _flow(parity="0"),
        # prior without its normalisation
        _flow(prior_const=""),
        # log q = log r + log_det (wrong sign of the change of variables)
        _flow(logq_sign="+"),
        # log_prob subtracts the inverse log-dets
        _flow(logprob_sign="-"),
    ],
    "train": [
        # gradient ascent on the reverse KL
        _train(loss="-(log_q + phi4_action(phi, m2, lam))"),
        # no gradient through the samples (the action of detached fields)
        _train(loss="log_q + phi4_action(phi.detach(), m2, lam)"),
        # wrong sign of the entropy term: collapses onto the minimum of S
        _train(loss="phi4_action(phi, m2, lam) - log_q"),
        # forgets to step the optimiser
        _train(step="pass"),
    ],
}

_SYM = '''
def symmetrize(phi, log_q_fn, signs):
    x = signs.to(phi.dtype).reshape(-1, 1, 1) * phi
    return x, LOG_Q_SYM


def independence_metropolis(log_p, log_q, u):
    log_w = (log_p.double() - log_q.double()).tolist()
    u = u.double().tolist()
    current, accepted, index = 0, 0, [0]
    for i in range(1, len(log_w)):
        if u[i] < math.exp(min(0.0, RATIO)):
            current, accepted = i, accepted + 1
        index.append(current)
    return torch.tensor(index), accepted / DENOMINATOR
'''


def _sym(log_q_sym="torch.logsumexp(torch.stack([log_q_fn(x), log_q_fn(-x)]), dim=0) - math.log(2.0)",
         ratio="log_w[i] - log_w[current]", denominator="(len(log_w) - 1)"):
    return _SYM.replace("LOG_Q_SYM", log_q_sym).replace("RATIO", ratio).replace("DENOMINATOR", denominator)


MUTANTS["sym"] = [
    # flips the signs but keeps the density of the unsymmetrised flow
    _sym(log_q_sym="log_q_fn(x)"),
    # the mixture without its weights 1/2
    _sym(log_q_sym="torch.logsumexp(torch.stack([log_q_fn(x), log_q_fn(-x)]), dim=0)"),
    # the mixture through exp and log: log-densities of hundreds underflow to -inf
    _sym(log_q_sym="torch.log(0.5 * torch.exp(log_q_fn(x)) + 0.5 * torch.exp(log_q_fn(-x)))"),
    # Metropolis ratio of p alone (as for a symmetric proposal): the proposal density is ignored
    _sym(ratio="log_p[i].item() - log_p[current].item()"),
    # compares with the previous proposal instead of the current state of the chain
    _sym(ratio="log_w[i] - log_w[i - 1]"),
    # acceptance over N instead of the N - 1 proposals after the start
    _sym(denominator="len(log_w)"),
]
