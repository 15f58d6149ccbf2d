"""Plausible wrong answers for week09; each must lose points (grader_tests/test_mutants.py)."""

_VAE = '''
class LinearVAE(nn.Module):
    def __init__(self, n_channels, n_latent):
        super().__init__()
        self.W = nn.Parameter(0.1 * torch.randn(n_channels, n_latent))
        self.b = nn.Parameter(torch.zeros(n_channels))
        self.log_sigma2 = nn.Parameter(torch.zeros(()))
        self.A = nn.Parameter(0.1 * torch.randn(n_latent, n_channels))
        self.c = nn.Parameter(torch.zeros(n_latent))
        self.log_s2 = nn.Parameter(torch.zeros(n_latent))

    def encode(self, x):
        return x @ self.A.T + self.c, self.log_s2.expand(x.shape[0], -1)

    def elbo(self, x):
        mu, logvar = self.encode(x)
        {z_line}
        residual = x - z @ self.W.T - self.b
        expected_sq = (residual ** 2).sum(dim=-1){trace}
        rec = -0.5 * x.shape[-1] * (math.log(2 * math.pi) + self.log_sigma2) - 0.5 * expected_sq / self.log_sigma2.exp()
        return rec {kl_sign} gaussian_kl(mu, logvar)

    def log_likelihood(self, x):
        return linear_gaussian_log_likelihood(x, self.W, self.b, {ll_sigma2})


def train_vae(vae, x, n_steps=300, lr=0.05):
    optimiser = torch.optim.Adam(vae.parameters(), lr=lr)
    history = []
    for _ in range(n_steps):
        value = vae.elbo(x).{reduce}()
        loss = {loss_sign}value
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        history.append(value.item())
    return history
'''
_VAE_OK = dict(z_line="z = mu", trace=" + (logvar.exp() * (self.W ** 2).sum(dim=0)).sum(dim=-1)", kl_sign="-",
               ll_sigma2="self.log_sigma2.exp()", reduce="mean", loss_sign="-")


def _vae(**change):
    return _VAE.format(**{**_VAE_OK, **change})


_PDF = '''
def z_peak_pdf(m):
    m = np.asarray(m, dtype=float)
    gamma = {gamma}
    norm_signal = {norm}
    signal = scipy.special.voigt_profile(m - M_Z, RESOLUTION, gamma) / norm_signal
    background = BKG_SLOPE * np.exp(-BKG_SLOPE * (m - M_LO)){bkg_norm}
    inside = {inside}
    return np.where(inside, F_SIGNAL * signal + (1.0 - F_SIGNAL) * background, 0.0)


def optimal_discriminator(m):
    p_data, p_gen = z_peak_pdf(m), FASTSIM.pdf(np.asarray(m, dtype=float))
    return {dstar}
'''
_PDF_OK = dict(gamma="0.5 * GAMMA_Z",
               norm="scipy.integrate.quad(lambda t: scipy.special.voigt_profile(t - M_Z, RESOLUTION, gamma), M_LO, M_HI)[0]",
               bkg_norm=" / (1.0 - np.exp(-BKG_SLOPE * (M_HI - M_LO)))", inside="(m >= M_LO) & (m <= M_HI)",
               dstar="p_data / (p_data + p_gen)")


def _pdf(**change):
    return _PDF.format(**{**_PDF_OK, **change})


_DISC = '''
class Discriminator(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, m):
        return {out}
'''
_DISC_OK = dict(out="self.net(((m - 91.0) / 3.0).unsqueeze(-1)).squeeze(-1)")


def _disc(**change):
    return _DISC.format(**{**_DISC_OK, **change})


_GAN = '''
class Generator(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, u):
        return {gen_out}

    def sample(self, n):
        return self(torch.randn(n, 1))


def train_gan(gen, disc, m_real, n_steps=300, batch_size=512, lr_g=1e-3, lr_d=2e-3, instance_noise=1.0):
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr_d, betas=(0.5, 0.999))
    sched_g = torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, T_max=n_steps)
    sched_d = torch.optim.lr_scheduler.CosineAnnealingLR(opt_d, T_max=n_steps)
    ones = torch.ones(batch_size)
    smear = lambda m: m + instance_noise * torch.randn_like(m)
    d_losses, g_losses = [], []
    for _ in range(n_steps):
        real = m_real[torch.randint(0, len(m_real), (batch_size,))]
        with torch.no_grad():
            fake = gen.sample(batch_size)
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(disc(smear(real)), ones)
                        + F.binary_cross_entropy_with_logits(disc(smear(fake)), 0 * ones))
        opt_d.zero_grad()
        loss_d.backward()
        {d_step}
        loss_g = F.binary_cross_entropy_with_logits(disc(smear({g_fake})), {g_label})
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        sched_g.step()
        sched_d.step()
        d_losses.append(loss_d.item())
        g_losses.append(loss_g.item())
    return d_losses, g_losses
'''
_GAN_OK = dict(gen_out="91.0 + 3.0 * (u[:, 0] + self.net(u).squeeze(-1))", d_step="opt_d.step()",
               g_fake="gen.sample(batch_size)", g_label="ones")


def _gan(**change):
    return _GAN.format(**{**_GAN_OK, **change})


_MC = '''
def mc_elbo(vae, x, eps):
    mu, logvar = vae.encode(x)
    z = {z}
    residual = x - z @ vae.W.T - vae.b
    log_px = -0.5 * x.shape[-1] * (math.log(2 * math.pi) + vae.log_sigma2) - 0.5 * (residual ** 2).sum(dim=-1) / vae.log_sigma2.exp()
    return log_px.{reduce}(dim=0) {kl_sign} gaussian_kl(mu, logvar)
'''
_MC_OK = dict(z="mu + torch.exp(0.5 * logvar) * eps", reduce="mean", kl_sign="-")


def _mc(**change):
    return _MC.format(**{**_MC_OK, **change})


MUTANTS = {
    "kl": [
        # forgot the 1/2
        "def gaussian_kl(mu, logvar):\n    return (mu ** 2 + logvar.exp() - 1.0 - logvar).sum(dim=-1)",
        # sigma instead of sigma^2
        "def gaussian_kl(mu, logvar):\n    return 0.5 * (mu ** 2 + (0.5 * logvar).exp() - 1.0 - logvar).sum(dim=-1)",
        # mean over the latent dimensions
        "def gaussian_kl(mu, logvar):\n    return 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).mean(dim=-1)",
        # wrong sign of the log-variance term
        "def gaussian_kl(mu, logvar):\n    return 0.5 * (mu ** 2 + logvar.exp() - 1.0 + logvar).sum(dim=-1)",
    ],
    "vae": [
        # the posterior variance forgotten in the reconstruction term: ELBO above log p
        _vae(trace=""),
        # KL added instead of subtracted
        _vae(kl_sign="+"),
        # one Monte Carlo sample instead of the exact expectation
        _vae(z_line="z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)", trace=""),
        # log_likelihood with unit noise
        _vae(ll_sigma2="1.0"),
        # train_vae minimises the ELBO
        _vae(loss_sign=""),
        # train_vae reports the summed ELBO
        _vae(reduce="sum", loss_sign="-1e-3 * "),
    ],
    "mc_elbo": [
        # no sampling at all: z = mu (biased: misses the trace term)
        _mc(z="mu + 0 * eps"),
        # the variance used as the standard deviation
        _mc(z="mu + torch.exp(logvar) * eps"),
        # no reparameterisation: the sample is cut off from the encoder's graph
        _mc(z="(mu + torch.exp(0.5 * logvar) * eps).detach()"),
        # the sum over the K samples instead of the mean
        _mc(reduce="sum"),
        # the KL term added
        _mc(kl_sign="+"),
    ],
    "pdf": [
        # Voigt profile not normalised inside the window
        _pdf(norm="1.0"),
        # full width used as the Cauchy half width
        _pdf(gamma="GAMMA_Z"),
        # background not normalised to the window
        _pdf(bkg_norm=""),
        # not zero outside the window
        _pdf(inside="np.ones_like(m, dtype=bool)"),
        # D* upside down
        _pdf(dstar="p_gen / (p_data + p_gen)"),
    ],
    "disc": [  # the network only: train_discriminator is given
        # returns probabilities instead of logits
        _disc(out="torch.sigmoid(self.net(((m - 91.0) / 3.0).unsqueeze(-1)).squeeze(-1))"),
        # masses in GeV straight into the network: the narrow peak is not resolved
        _disc(out="self.net(m.unsqueeze(-1)).squeeze(-1)"),
        # logits of shape (n, 1)
        _disc(out="self.net(((m - 91.0) / 3.0).unsqueeze(-1))"),
    ],
    "gan": [
        # generator ignores its noise: collapses onto one mass
        _gan(gen_out="91.0 + 3.0 * self.net(0 * u).squeeze(-1)"),
        # generator step with the fake label: runs away from the data
        _gan(g_label="0 * ones"),
        # generator never learns (its samples are detached)
        _gan(g_fake="gen.sample(batch_size).detach()"),
        # discriminator never steps
        _gan(d_step="pass"),
    ],
}
