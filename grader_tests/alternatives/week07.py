"""Correct alternative solutions for week07; each must keep full marks (grader_tests/test_alternatives.py)."""

MODEL_POST_NORM_TWO_HEADS = '''
class ParticleTransformer(nn.Module):
    """Two heads, separate q/k/v maps, post-norm block, masked *sum* pooling, GELU; the pair bias
    from (Delta R, ln m^2, q_i q_j, mu_i mu_j, a Gaussian bump around M_Z) through a wider MLP."""

    def __init__(self, d_model=32, use_positions=False):
        super().__init__()
        self.d_model, self.use_positions, self.heads = d_model, use_positions, 2
        self.embed = nn.Linear(7, d_model)
        self.q, self.k, self.v = (nn.Linear(d_model, d_model, bias=False) for _ in range(3))
        self.pair = nn.Sequential(nn.Linear(5, 64), nn.GELU(), nn.Linear(64, self.heads))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, 64), nn.GELU(), nn.Linear(64, d_model))
        self.out = nn.Sequential(nn.Linear(d_model, 32), nn.GELU(), nn.Linear(32, 1))

    def encode(self, x, mask):
        b, n, _ = x.shape
        safe = torch.tensor([30.0, 0.0, 0.0, 1.0, 0.0], device=x.device)
        x = torch.where(mask[..., None], x, safe.expand_as(x))
        pt, eta, phi = x[..., 0], x[..., 1], x[..., 2]
        feats = torch.cat([torch.log(pt)[..., None] - 3.4, eta[..., None], torch.cos(phi)[..., None],
                           torch.sin(phi)[..., None], x[..., 3:], (pt / 50.0)[..., None]], dim=-1)
        h = self.embed(feats)
        if self.use_positions:
            h = h + positional_encoding(n, self.d_model).to(h.device)
        p = pair_features(x)
        bump = torch.exp(-0.5 * ((p[..., 1] - 91.19) / 8.0) ** 2)
        u = torch.stack([p[..., 0], torch.log(p[..., 1] ** 2 + 1.0) / 5.0, p[..., 2], p[..., 3], bump], dim=-1)
        bias = self.pair(u).permute(0, 3, 1, 2)
        split = lambda t: t.view(b, n, self.heads, -1).transpose(1, 2)
        a = attention(split(self.q(h)), split(self.k(h)), split(self.v(h)), mask[:, None, None, :], bias)
        h = self.norm1(h + a.transpose(1, 2).reshape(b, n, self.d_model))
        return self.norm2(h + self.ff(h))

    def forward(self, x, mask):
        h = self.encode(x, mask)
        pooled = torch.where(mask[..., None], h, torch.zeros_like(h)).sum(dim=1) / 8.0
        return self.out(pooled)[:, 0]
'''

MODEL_FOUR_HEADS_TWO_BLOCKS = '''
class _Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.ReLU(), nn.Linear(4 * d, d))

    def forward(self, h, mask, bias):
        b, n, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).chunk(3, dim=-1)
        split = lambda t: t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)
        a = attention(split(q), split(k), split(v), mask.view(b, 1, 1, n), bias)
        h = h + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return h + self.mlp(self.ln2(h))


class ParticleTransformer(nn.Module):
    """Four heads, two pre-norm blocks sharing one pair bias, masked mean pooling written with a
    loop over events; the padding replaced with index_put."""

    def __init__(self, d_model=32, use_positions=False):
        super().__init__()
        self.d_model, self.use_positions = d_model, use_positions
        self.embed = nn.Sequential(nn.Linear(6, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        self.pair = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
        self.blocks = nn.ModuleList([_Block(d_model, 4), _Block(d_model, 4)])
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, 1))

    def encode(self, x, mask):
        x = x.clone()
        x[~mask] = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0], device=x.device)
        pt, eta, phi, q, mu = (x[..., c] for c in range(5))
        h = self.embed(torch.stack([torch.log(pt / 30.0), eta, torch.cos(phi), torch.sin(phi), q, mu], dim=-1))
        if self.use_positions:
            h = h + positional_encoding(x.shape[1], self.d_model).to(h.device)
        p = pair_features(x)
        dm = (p[..., 1] - M_Z) / 10.0
        bias = self.pair(torch.stack([p[..., 0], dm, dm.abs(), p[..., 2], p[..., 3]], dim=-1)).permute(0, 3, 1, 2)
        for block in self.blocks:
            h = block(h, mask, bias)
        return h

    def forward(self, x, mask):
        h = self.encode(x, mask)
        pooled = torch.stack([h[b][mask[b]].mean(dim=0) for b in range(h.shape[0])])
        return self.head(pooled).squeeze(-1)
'''

ALTERNATIVES = {
    "attention": [
        # matmul instead of einsum, -1e9 instead of -inf through torch.where, the bias after the mask
        '''
def attention(q, k, v, mask=None, bias=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, -1e9))
    if bias is not None:
        scores = scores + torch.where(mask, bias, torch.zeros_like(bias)) if mask is not None else scores + bias
    return torch.softmax(scores, dim=-1) @ v
''',
        # an explicit, stabilised softmax; the scale applied to the queries first
        '''
def attention(q, k, v, mask=None, bias=None):
    scores = torch.einsum("...id,...jd->...ij", q / math.sqrt(q.shape[-1]), k)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), -math.inf)
    w = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    w = w / w.sum(dim=-1, keepdim=True)
    return torch.einsum("...ij,...jc->...ic", w, v)
''',
    ],
    "pad": [
        # numpy first, then one conversion
        '''
def pad_events(events, max_len=None):
    n = max_len if max_len is not None else max(len(e) for e in events)
    x = np.zeros((len(events), n, np.shape(events[0])[1]), dtype=np.float32)
    mask = np.zeros((len(events), n), dtype=bool)
    for b, e in enumerate(events):
        x[b, :len(e)] = e
        mask[b, :len(e)] = True
    return torch.from_numpy(x), torch.from_numpy(mask)
''',
        # torch's pad_sequence, extended to max_len; the mask from the lengths
        '''
def pad_events(events, max_len=None):
    seqs = [torch.tensor(np.asarray(e), dtype=torch.float32) for e in events]
    x = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)
    if max_len is not None and max_len > x.shape[1]:
        x = torch.cat([x, x.new_zeros(x.shape[0], max_len - x.shape[1], x.shape[2])], dim=1)
    lengths = torch.tensor([len(e) for e in events])
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    return x, mask
''',
    ],
    "posenc": [
        # float32 throughout, angles via exp/log
        '''
def positional_encoding(n_positions, d_model):
    pos = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(n_positions, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe
''',
        # a plain loop, then stacked (sin, cos) pairs
        '''
def positional_encoding(n_positions, d_model):
    rows = []
    for p in range(n_positions):
        row = []
        for i in range(d_model // 2):
            angle = p / 10000 ** (2 * i / d_model)
            row += [math.sin(angle), math.cos(angle)]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32).reshape(n_positions, d_model)
''',
    ],
    "pairs": [
        # atan2 wrapping, the mass from four-vectors in float64 (E^2 - |p|^2), cast back
        '''
def pair_features(x):
    xd = x.double()
    pt, eta, phi, q, mu = (xd[..., c] for c in range(5))
    d_eta = eta.unsqueeze(-1) - eta.unsqueeze(-2)
    raw = phi.unsqueeze(-1) - phi.unsqueeze(-2)
    d_phi = torch.atan2(torch.sin(raw), torch.cos(raw))
    p4 = torch.stack([pt * torch.cosh(eta), pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)], dim=-1)
    s = p4.unsqueeze(-2) + p4.unsqueeze(-3)
    m2 = s[..., 0] ** 2 - (s[..., 1:] ** 2).sum(dim=-1)
    out = torch.stack([torch.hypot(d_eta, d_phi), m2.clamp_min(0).sqrt(), q.unsqueeze(-1) * q.unsqueeze(-2),
                       mu.unsqueeze(-1) * mu.unsqueeze(-2)], dim=-1)
    return out.to(x.dtype)
''',
        # numpy loops over the pairs of every event, then one tensor
        '''
def pair_features(x):
    a = x.detach().cpu().numpy()
    flat = a.reshape(-1, a.shape[-2], a.shape[-1])
    out = np.zeros((flat.shape[0], flat.shape[1], flat.shape[1], 4), dtype=a.dtype)
    for b, ev in enumerate(flat):
        for i in range(len(ev)):
            for j in range(len(ev)):
                deta = ev[i, 1] - ev[j, 1]
                dphi = (ev[i, 2] - ev[j, 2] + np.pi) % (2 * np.pi) - np.pi
                m2 = 2 * ev[i, 0] * ev[j, 0] * (np.cosh(deta) - np.cos(dphi))
                out[b, i, j] = [np.sqrt(deta**2 + dphi**2), np.sqrt(max(m2, 0.0)), ev[i, 3] * ev[j, 3], ev[i, 4] * ev[j, 4]]
    return torch.from_numpy(out.reshape(*a.shape[:-1], a.shape[-2], 4)).to(x.device)
''',
    ],
    "model": [MODEL_POST_NORM_TWO_HEADS, MODEL_FOUR_HEADS_TWO_BLOCKS],
    "train": [
        # AdamW, cosine schedule stepped per epoch, a DataLoader-free index split
        '''
def train_classifier(model, x, mask, y, n_epochs=30, batch_size=100, lr=1e-2):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs)
    losses = []
    for epoch in range(n_epochs):
        model.train()
        batch_losses, sizes = [], []
        for idx in torch.randperm(len(y), device=y.device).split(batch_size):
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(x[idx], mask[idx]), y[idx])
            loss.backward()
            opt.step()
            batch_losses.append(loss.item())
            sizes.append(len(idx))
        sched.step()
        losses.append(float(np.average(batch_losses, weights=sizes)))
    model.eval()
    return losses
''',
        # Adam with a linear decay to zero (LambdaLR), the loss summed then divided
        '''
def train_classifier(model, x, mask, y, n_epochs=30, batch_size=100, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total_steps = n_epochs * math.ceil(len(y) / batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: max(0.0, 1.0 - step / total_steps))
    history = []
    for epoch in range(n_epochs):
        model.train()
        perm = torch.randperm(len(y), device=y.device)
        summed = 0.0
        for start in range(0, len(y), batch_size):
            idx = perm[start:start + batch_size]
            loss = F.binary_cross_entropy_with_logits(model(x[idx], mask[idx]), y[idx], reduction="sum")
            opt.zero_grad()
            (loss / len(idx)).backward()
            opt.step()
            sched.step()
            summed += loss.item()
        history.append(summed / len(y))
    model.eval()
    return history
''',
    ],
}
