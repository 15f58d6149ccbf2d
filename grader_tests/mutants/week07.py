"""Plausible wrong answers for week07; each must lose points (grader_tests/test_mutants.py)."""

_ATTENTION_OK = '''
def attention(q, k, v, mask=None, bias=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.einsum("...qk,...kv->...qv", torch.softmax(scores, dim=-1), v)
'''

_PE_OK = '''
def positional_encoding(n_positions, d_model):
    p = torch.arange(n_positions, dtype=torch.float64)[:, None]
    f = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(p * f), torch.cos(p * f)
    return pe.float()
'''

# The reference transformer with one line changed (marked); {pool}, {attend}, {pos}, {clean}, {bias} are filled in.
_MODEL = '''
class ParticleTransformer(nn.Module):
    def __init__(self, d_model=32, use_positions=False):
        super().__init__()
        self.d_model, self.use_positions, self.n_heads = d_model, use_positions, 4
        self.embed = nn.Sequential(nn.Linear(6, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        self.pair_mlp = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, self.n_heads))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Linear(2 * d_model, d_model))
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, 1))

    def encode(self, x, mask):
        batch, n, _ = x.shape
        x = {clean}
        pt, eta, phi, charge, muon = x.unbind(dim=-1)
        inputs = torch.stack([torch.log(pt / 30.0), eta, torch.cos(phi), torch.sin(phi), charge, muon], dim=-1)
        h = self.embed(inputs)
        if {pos}:
            h = h + positional_encoding(n, self.d_model).to(h.device)
        pairs = pair_features(x)
        dm = (pairs[..., 1:2] - M_Z) / 10.0
        pair_inputs = torch.cat([pairs[..., :1], dm, dm.abs(), torch.exp(-dm**2), pairs[..., 2:]], dim=-1)
        bias = self.pair_mlp(pair_inputs).permute(0, 3, 1, 2)
        q, k, v = self.qkv(self.norm1(h)).view(batch, n, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        a = {attend}
        h = h + self.proj(a.transpose(1, 2).reshape(batch, n, self.d_model))
        return h + self.mlp(self.norm2(h))

    def forward(self, x, mask):
        h = self.encode(x, mask)
        weights = mask.unsqueeze(-1).to(h.dtype)
        pooled = {pool}
        return self.head(pooled).squeeze(-1)
'''
_GOOD = dict(pos="self.use_positions", attend="attention(q, k, v, mask[:, None, None, :], bias)",
             pool="(h * weights).sum(dim=1) / weights.sum(dim=1)",
             clean="torch.where(mask[..., None], x, torch.ones_like(x))")

# A model without interactions: every particle encoded on its own (a DeepSet), masked mean pooling.
_NO_INTERACTIONS = '''
class ParticleTransformer(nn.Module):
    def __init__(self, d_model=32, use_positions=False):
        super().__init__()
        self.d_model, self.use_positions = d_model, use_positions
        self.embed = nn.Sequential(nn.Linear(6, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        self.norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Linear(2 * d_model, d_model))
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, 1))

    def encode(self, x, mask):
        x = torch.where(mask[..., None], x, torch.ones_like(x))
        pt, eta, phi, charge, muon = x.unbind(dim=-1)
        h = self.embed(torch.stack([torch.log(pt / 30.0), eta, torch.cos(phi), torch.sin(phi), charge, muon], dim=-1))
        if self.use_positions:
            h = h + positional_encoding(x.shape[1], self.d_model).to(h.device)
        return h + self.mlp(self.norm(h))

    def forward(self, x, mask):
        h = self.encode(x, mask)
        w = mask.unsqueeze(-1).to(h.dtype)
        return self.head((h * w).sum(dim=1) / w.sum(dim=1)).squeeze(-1)
'''

_PAIRS_OK = '''
def pair_features(x):
    pt, eta, phi, charge, muon = x.unbind(dim=-1)
    d_eta = eta[..., :, None] - eta[..., None, :]
    d_phi = torch.remainder(phi[..., :, None] - phi[..., None, :] + math.pi, 2 * math.pi) - math.pi
    delta_r = torch.sqrt(d_eta**2 + d_phi**2)
    m2 = 2 * pt[..., :, None] * pt[..., None, :] * (torch.cosh(d_eta) - torch.cos(d_phi))
    mass = torch.sqrt(torch.clamp(m2, min=0.0))
    return torch.stack([delta_r, mass, charge[..., :, None] * charge[..., None, :],
                        muon[..., :, None] * muon[..., None, :]], dim=-1)
'''


def _model(**change):
    return _MODEL.format(**{**_GOOD, **change})


_TRAIN = '''
def train_classifier(model, x, mask, y, n_epochs=30, batch_size=100, lr=1e-2):
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps = (len(y) + batch_size - 1) // batch_size
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=n_epochs * steps)
    history = []
    model.train()
    for _ in range({epochs}):
        order = torch.randperm(len(y), device=y.device)
        total = 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            loss = F.binary_cross_entropy_with_logits(model(x[idx], mask[idx]), {target})
            optimiser.zero_grad()
            loss.backward()
            {step}
            schedule.step()
            total += loss.item(){weight}
        history.append(total{norm})
    model.eval()
    return history
'''
_TRAIN_GOOD = dict(epochs="n_epochs", target="y[idx]", step="optimiser.step()", weight=" * len(idx)",
                   norm=" / len(y)")


def _train(**change):
    return _TRAIN.format(**{**_TRAIN_GOOD, **change})


MUTANTS = {
    "attention": [
        # forgot the 1/sqrt(d) scale
        _ATTENTION_OK.replace(" / math.sqrt(q.shape[-1])", ""),
        # softmax over the queries instead of the keys
        _ATTENTION_OK.replace("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)"),
        # mask applied after the softmax: weights no longer sum to one
        '''
def attention(q, k, v, mask=None, bias=None):
    s = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
    w = torch.softmax(s if bias is None else s + bias, dim=-1)
    if mask is not None:
        w = w * mask
    return torch.einsum("...qk,...kv->...qv", w, v)
''',
        # 1/d instead of 1/sqrt(d)
        _ATTENTION_OK.replace("math.sqrt(q.shape[-1])", "q.shape[-1]"),
        # calls the library instead of writing it
        '''
def attention(q, k, v, mask=None, bias=None):
    if bias is not None:
        mask = (bias if mask is None else bias.masked_fill(~mask, float("-inf")))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
''',
        # the bias ignored
        _ATTENTION_OK.replace("scores = scores + bias", "pass"),
        # the bias added before the 1/sqrt(d) scaling
        _ATTENTION_OK.replace("/ math.sqrt(q.shape[-1])", "").replace(
            "scores = scores + bias", "scores = scores + bias").replace(
            "    if mask is not None:", "    scores = scores / math.sqrt(q.shape[-1]) if bias is None else (scores + bias) / math.sqrt(q.shape[-1])\n    if mask is not None:", 1).replace(
            "        scores = scores + bias\n", "        pass\n"),
    ],
    "pad": [
        # mask one slot too long
        '''
def pad_events(events, max_len=None):
    n = max(len(e) for e in events) if max_len is None else max_len
    x = torch.zeros(len(events), n, np.asarray(events[0]).shape[1])
    mask = torch.zeros(len(events), n, dtype=torch.bool)
    for b, e in enumerate(events):
        x[b, :len(e)] = torch.as_tensor(np.asarray(e), dtype=torch.float32)
        mask[b, :len(e) + 1] = True
    return x, mask
''',
        # left padding: the particles at the end
        '''
def pad_events(events, max_len=None):
    n = max(len(e) for e in events) if max_len is None else max_len
    x = torch.zeros(len(events), n, np.asarray(events[0]).shape[1])
    mask = torch.zeros(len(events), n, dtype=torch.bool)
    for b, e in enumerate(events):
        x[b, n - len(e):] = torch.as_tensor(np.asarray(e), dtype=torch.float32)
        mask[b, n - len(e):] = True
    return x, mask
''',
        # ignores max_len
        '''
def pad_events(events, max_len=None):
    n = max(len(e) for e in events)
    x = torch.zeros(len(events), n, np.asarray(events[0]).shape[1])
    mask = torch.zeros(len(events), n, dtype=torch.bool)
    for b, e in enumerate(events):
        x[b, :len(e)] = torch.as_tensor(np.asarray(e), dtype=torch.float32)
        mask[b, :len(e)] = True
    return x, mask
''',
    ],
    "posenc": [
        # sin and cos swapped
        _PE_OK.replace("torch.sin(p * f), torch.cos(p * f)", "torch.cos(p * f), torch.sin(p * f)"),
        # exponent i/d instead of 2i/d
        _PE_OK.replace("torch.arange(0, d_model, 2, dtype=torch.float64) / d_model",
                       "torch.arange(0, d_model // 2, dtype=torch.float64) / d_model"),
        # positions counted from 1
        _PE_OK.replace("torch.arange(n_positions, dtype=torch.float64)", "torch.arange(1, n_positions + 1, dtype=torch.float64)"),
        # sines and cosines in two halves instead of interleaved
        _PE_OK.replace("pe[:, 0::2], pe[:, 1::2] = ", "pe[:, :d_model // 2], pe[:, d_model // 2:] = "),
    ],
    "pairs": [
        # Delta phi not wrapped
        _PAIRS_OK.replace("torch.remainder(phi[..., :, None] - phi[..., None, :] + math.pi, 2 * math.pi) - math.pi",
                          "phi[..., :, None] - phi[..., None, :]"),
        # wrapped once only: wrong for |Delta phi| > 3 pi
        _PAIRS_OK.replace("torch.remainder(phi[..., :, None] - phi[..., None, :] + math.pi, 2 * math.pi) - math.pi",
                          "phi[..., :, None] - phi[..., None, :]\n    d_phi = torch.where(d_phi > math.pi, d_phi - 2 * math.pi, "
                          "torch.where(d_phi < -math.pi, d_phi + 2 * math.pi, d_phi))"),
        # cos instead of cosh
        _PAIRS_OK.replace("torch.cosh(d_eta)", "torch.cos(d_eta)"),
        # m^2 instead of m
        _PAIRS_OK.replace("torch.sqrt(torch.clamp(m2, min=0.0))", "torch.clamp(m2, min=0.0)"),
        # Delta R from Delta phi only
        _PAIRS_OK.replace("torch.sqrt(d_eta**2 + d_phi**2)", "d_phi.abs()"),
        # the charges added, not multiplied
        _PAIRS_OK.replace("charge[..., :, None] * charge[..., None, :]", "charge[..., :, None] + charge[..., None, :]"),
    ],
    "model": [
        # a model without interactions: a DeepSet (each particle encoded on its own)
        _NO_INTERACTIONS,
        # the padded slots not sanitised: log of a negative pT gives nan
        _model(clean="x"),
        # attention over the padding (no mask)
        _model(attend="attention(q, k, v, None, bias)"),
        # mean over all slots, padding included
        _model(pool="h.mean(dim=1)"),
        # positional encodings always on: no longer permutation invariant
        _model(pos="True"),
        # "pooling" by the first particle
        _model(pool="h[:, 0]"),
        # use_positions ignored
        _model(pos="False"),
    ],
    "train": [
        # labels flipped
        _train(target="1.0 - y[idx]"),
        # the optimiser never steps
        _train(step="pass"),
        # sum of the batch means, not the mean over events
        _train(weight="", norm=""),
        # always 8 epochs
        _train(epochs="8"),
    ],
}
