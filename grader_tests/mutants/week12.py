"""Plausible wrong answers for week12; each must lose points (grader_tests/test_mutants.py)."""

from pathlib import Path

import nbformat

from gradehub.variants import notebook_spec, preview_seed

# Another student's variant (the public preview variant 1; the source holds variant 0): a right
# answer computed on that experiment's spectrum must lose the points that depend on the data.
_SPEC = notebook_spec(nbformat.read(Path(__file__).resolve().parents[2] / "source" / "week12" / "week12.ipynb",
                                    as_version=4))
_OTHER = _SPEC.draw(preview_seed(1))
_NEIGHBOUR_SPECTRUM = (
    f"_seed_o, _p_o = {_OTHER.seed}, {_OTHER.parameters!r}\n"
    "_rng_o = np.random.default_rng(_seed_o)\n"
    "_x_o = np.append(_rng_o.poisson(_p_o['TRUE_MU'] * SIGNAL + _p_o['TRUE_B'] * BACKGROUND),\n"
    "                 _rng_o.poisson(TAU * _p_o['TRUE_B']))\n"
)
_MEASURE = '''
_density = DENSITY
MY_MU_MEAN, MY_MU_STD = grid_moments(MU_GRID, _density)
_cdf = np.cumsum(_density) / np.sum(_density)
MY_MU_INTERVAL = (float(np.interp(LOW, _cdf, MU_GRID)), float(np.interp(HIGH, _cdf, MU_GRID)))
'''


def _measure(density="grid_posterior(X_OBS, MU_GRID, B_GRID, SIGNAL, BACKGROUND, TAU)", low="0.16", high="0.84"):
    return _MEASURE.replace("DENSITY", density).replace("LOW", low).replace("HIGH", high)


_SIMULATE = '''
def simulate(mu, b, signal, background, tau, rng):
    mu = np.asarray(mu, dtype=float).reshape(-1, 1)
    b = np.asarray(b, dtype=float).reshape(-1, 1)
    lam = LAMBDA
    return np.concatenate([BINS, CONTROL], axis=1)
'''


def _simulate(lam="mu * np.asarray(signal, dtype=float) + b * np.asarray(background, dtype=float)",
              bins="rng.poisson(lam)", control="rng.poisson(tau * b)"):
    return _SIMULATE.replace("LAMBDA", lam).replace("BINS", bins).replace("CONTROL", control)


_LIKELIHOOD = '''
def log_likelihood(counts, mu, b, signal, background, tau):
    counts = np.asarray(counts, dtype=float)
    mu, b = np.asarray(mu, dtype=float), np.asarray(b, dtype=float)
    n, m = counts[:-1], counts[-1]
    lam = mu[..., None] * np.asarray(signal, dtype=float) + b[..., None] * np.asarray(background, dtype=float)
    spectrum = np.sum(SPECTRUM_TERM, axis=SUM_AXIS)
    return spectrum + CONTROL_TERM
'''


def _likelihood(spectrum="xlogy(n, lam) - lam - gammaln(n + 1)", axis="-1",
                control="xlogy(m, tau * b) - tau * b - gammaln(m + 1)"):
    return (_LIKELIHOOD.replace("SPECTRUM_TERM", spectrum).replace("SUM_AXIS", axis)
            .replace("CONTROL_TERM", control))


_GRID = '''
def grid_posterior(counts, mu_grid, b_grid, signal, background, tau):
    ll = log_likelihood(counts, mu_grid[:, None], b_grid[None, :], signal, background, tau)
    log_marginal = MARGINAL
    density = DENSITY
    return density / NORMALISATION
'''


def _grid(marginal="logsumexp(ll, axis=1)", density="np.exp(log_marginal - log_marginal.max())",
          normalisation="(density.sum() * (mu_grid[1] - mu_grid[0]))"):
    return _GRID.replace("MARGINAL", marginal).replace("DENSITY", density).replace("NORMALISATION", normalisation)


_MIXTURE = '''
def mixture_log_prob(theta, logits, means, log_stds):
    z = (theta.unsqueeze(-1) - means) * torch.exp(-log_stds)
    log_normal = LOG_NORMAL
    return RESULT
'''


def _mixture(log_normal="-0.5 * z**2 - log_stds - 0.5 * math.log(2 * math.pi)",
             result="torch.logsumexp(torch.log_softmax(logits, dim=-1) + log_normal, dim=-1)"):
    return _MIXTURE.replace("LOG_NORMAL", log_normal).replace("RESULT", result)


_NPE = '''
class MixtureDensityNPE(nn.Module):
    def __init__(self, n_features, n_components=3, hidden=64):
        super().__init__()
        self.n_components = n_components
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 3 * n_components))

    def forward(self, x):
        logits, means, log_stds = self.net(x).split(self.n_components, dim=-1)
        return logits, means, log_stds.clamp(-7.0, 3.0)

    def log_prob(self, theta, x):
        return mixture_log_prob(theta, *self(x))

    def sample(self, x, n_samples):
        with torch.no_grad():
            logits, means, log_stds = self(x)
            k = COMPONENTS
            return means.gather(1, k) + SCALE.gather(1, k) * NOISE


def train_npe(net, theta, x, n_steps, batch_size=256, lr=1e-3):
    dev = next(net.parameters()).device
    theta = torch.as_tensor(theta, dtype=torch.float32).to(dev)
    x = torch.as_tensor(x, dtype=torch.float32).to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_steps)
    losses = []
    for _ in range(n_steps):
        idx = torch.randint(0, len(theta), (batch_size,), device=dev)
        loss = LOSS
        optimizer.zero_grad()
        loss.backward()
        STEP
        schedule.step()
        losses.append(loss.item())
    return losses
'''


def _npe(components="torch.distributions.Categorical(logits=logits).sample((n_samples,)).T",
         scale="log_stds.exp()", noise="torch.randn(k.shape, device=x.device)",
         loss="-net.log_prob(theta[idx], x[idx]).mean()", step="optimizer.step()"):
    return (_NPE.replace("COMPONENTS", components).replace("SCALE", scale).replace("NOISE", noise)
            .replace("LOSS", loss).replace("STEP", step))


_CALIBRATION = '''
def sbc_ranks(theta_true, samples):
    return RANKS


def rank_histogram_chi2(ranks, n_samples, n_bins):
    ranks = np.asarray(ranks)
    width = (n_samples + 1) // n_bins
    observed = OBSERVED
    expected = len(ranks) / n_bins
    return float(np.sum((observed - expected) ** 2 / DENOMINATOR))


def central_coverage(theta_true, samples, level):
    lo, hi = np.quantile(np.asarray(samples), QUANTILES, axis=1)
    theta_true = np.asarray(theta_true)
    return float(np.mean((theta_true >= lo) & (theta_true <= hi)))
'''


def _calibration(ranks="np.sum(np.asarray(samples) < np.asarray(theta_true)[:, None], axis=1)",
                 observed="np.bincount(ranks // width, minlength=n_bins)", denominator="expected",
                 quantiles="[(1 - level) / 2, (1 + level) / 2]"):
    return (_CALIBRATION.replace("RANKS", ranks).replace("OBSERVED", observed)
            .replace("DENOMINATOR", denominator).replace("QUANTILES", quantiles))


MUTANTS = {
    "simulate": [
        # signal and background templates swapped
        _simulate(lam="mu * np.asarray(background, dtype=float) + b * np.asarray(signal, dtype=float)"),
        # control region ignores the nuisance: Poisson(tau) whatever b is
        _simulate(control="rng.poisson(np.full_like(b, tau))"),
        # control region without tau: Poisson(b)
        _simulate(control="rng.poisson(b)"),
        # Gaussian approximation of the Poisson counts, rounded and clipped at zero
        _simulate(bins="np.clip(np.rint(rng.normal(lam, np.sqrt(lam))), 0, None).astype(int)"),
        # numpy's global generator instead of rng
        _simulate(bins="np.random.poisson(lam)"),
    ],
    "likelihood": [
        # wrong Poisson term: log n! dropped
        _likelihood(spectrum="xlogy(n, lam) - lam"),
        # wrong signs: n log(lambda) - lambda reversed
        _likelihood(spectrum="-xlogy(n, lam) + lam - gammaln(n + 1)"),
        # the control region is forgotten
        _likelihood(control="0.0"),
        # control region Poisson(m; b) without tau
        _likelihood(control="xlogy(m, b) - b - gammaln(m + 1)"),
        # sum over the wrong axis (the grid axis instead of the bins)
        _likelihood(axis="0"),
    ],
    "grid": [
        # ignores the nuisance: b fixed at the middle of its grid
        _grid(marginal="ll[:, len(b_grid) // 2]"),
        # profiles the nuisance (maximum over b) instead of marginalising it
        _grid(marginal="ll.max(axis=1)"),
        # missing normalisation by the grid spacing: sums to 1 instead of integrating to 1
        _grid(normalisation="density.sum()"),
        # marginalises over the wrong axis (mu instead of b)
        _grid(marginal="logsumexp(ll, axis=0)"),
        # exponentiates without subtracting the maximum: 0/0 for many bins
        _grid(marginal="np.log(np.exp(ll).sum(axis=1))", density="np.exp(log_marginal)"),
    ],
    "mixture": [
        # logits used as log-weights without normalisation
        _mixture(result="torch.logsumexp(logits + log_normal, dim=-1)"),
        # missing -log(sigma) of the Gaussian normalisation
        _mixture(log_normal="-0.5 * z**2 - 0.5 * math.log(2 * math.pi)"),
        # log of the sum computed naively: -inf in the tails
        _mixture(result="torch.log((torch.softmax(logits, dim=-1) * torch.exp(log_normal)).sum(dim=-1))"),
        # log-sum-exp over the wrong axis (the batch instead of the components)
        _mixture(result="torch.logsumexp(torch.log_softmax(logits, dim=-1) + log_normal, dim=0)"),
    ],
    "npe": [
        # gradient ascent on the log-likelihood's negative: maximises the loss
        _npe(loss="net.log_prob(theta[idx], x[idx]).mean()"),
        # never steps the optimiser
        _npe(step="pass"),
        # pairs shuffled: theta and x of different simulations (learns the prior)
        _npe(loss="-net.log_prob(theta[idx], x[idx[torch.randperm(batch_size, device=dev)]]).mean()"),
        # samples with the variance in place of the standard deviation
        _npe(scale="torch.exp(2 * log_stds)"),
        # samples only the component means (no Gaussian noise)
        _npe(noise="0.0"),
    ],
    "calibration": [
        # ranks count the samples above the truth
        _calibration(ranks="np.sum(np.asarray(samples) > np.asarray(theta_true)[:, None], axis=1)"),
        # ranks summed over the wrong axis (over experiments)
        _calibration(ranks="np.sum(np.asarray(samples) < np.asarray(theta_true)[:, None], axis=0)"),
        # off by one: bins of L / n_bins ranks, so rank L falls into an extra bin
        _calibration(observed="np.bincount(ranks * n_bins // n_samples, minlength=n_bins)"),
        # histogram over the range of the data instead of 0..L
        _calibration(observed="np.histogram(ranks, bins=n_bins)[0]"),
        # Neyman's chi2: divides by the observed instead of the expected counts
        _calibration(denominator="np.maximum(observed, 1)"),
        # wrong tail: a one-sided interval [q_0, q_level]
        _calibration(quantiles="[0.0, level]"),
        # level confused with the tail probability: the central (1 - level) interval
        _calibration(quantiles="[level / 2, 1 - level / 2]"),
    ],
    "measurement": [
        # copied from a neighbour: the right method on another variant's spectrum
        _NEIGHBOUR_SPECTRUM + _measure(density="grid_posterior(_x_o, MU_GRID, B_GRID, SIGNAL, BACKGROUND, TAU)"),
        # the nuisance fixed at b = 1 instead of marginalised: too narrow, and shifted when b != 1
        _measure(density="np.exp(log_likelihood(X_OBS, MU_GRID, 1.0, SIGNAL, BACKGROUND, TAU)"
                         " - log_likelihood(X_OBS, MU_GRID, 1.0, SIGNAL, BACKGROUND, TAU).max())"),
        # the joint posterior's mode in mu (maximum a posteriori) instead of the marginal mean
        _measure() + "MY_MU_MEAN = float(MU_GRID[np.argmax(_density)])",
        # a 90 % interval instead of the central 68 %
        _measure(low="0.05", high="0.95"),
        # the network's samples instead of the exact posterior
        "torch.manual_seed(4)\n_s = npe.sample(features(X_OBS[None, :]).to(device), 20_000).cpu().numpy()[0]\n"
        "MY_MU_MEAN, MY_MU_STD = float(_s.mean()), float(_s.std())\n"
        "MY_MU_INTERVAL = tuple(float(q) for q in np.quantile(_s, [0.16, 0.84]))",
        # the truth of the simulation (which a real experiment does not know) as the measurement
        _measure() + "MY_MU_MEAN = TRUE_MU",
    ],
}
