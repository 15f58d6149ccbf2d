"""Correct alternative solutions for week08; each must keep full marks (grader_tests/test_alternatives.py)."""

ALTERNATIVES = {
    "sets": [
        # masked_fill of phi's output, einsum for the z weighting, deeper networks with SiLU
        '''
class DeepSet(nn.Module):
    def __init__(self, n_features, latent_dim=16, hidden=32, n_out=1):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(n_features, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, latent_dim))
        self.rho = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, n_out))

    def latent(self, x, mask):
        return self.phi(x).masked_fill(~mask.unsqueeze(-1), 0.0).sum(dim=1)

    def forward(self, x, mask):
        return self.rho(self.latent(x, mask))


class EnergyFlowNetwork(nn.Module):
    def __init__(self, latent_dim=16, hidden=32, n_out=1):
        super().__init__()
        self.Phi = nn.Sequential(nn.Linear(2, hidden), nn.SiLU(), nn.Linear(hidden, latent_dim))
        self.F = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, n_out))

    def latent(self, x, mask):
        z = torch.where(mask, x[..., 0], torch.zeros_like(x[..., 0]))
        return torch.einsum("bn,bnl->bl", z, self.Phi(x[..., 1:3]))

    def forward(self, x, mask):
        return self.F(self.latent(x, mask))
''',
        # a loop over the sets, phi applied to the real elements only
        '''
class DeepSet(nn.Module):
    def __init__(self, n_features, latent_dim=16, hidden=32, n_out=1):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.rho = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def latent(self, x, mask):
        return torch.stack([self.phi(x[b][mask[b]]).sum(dim=0) for b in range(x.shape[0])])

    def forward(self, x, mask):
        return self.rho(self.latent(x, mask))


class EnergyFlowNetwork(nn.Module):
    def __init__(self, latent_dim=16, hidden=32, n_out=1):
        super().__init__()
        self.Phi = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, latent_dim))
        self.F = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def latent(self, x, mask):
        rows = []
        for b in range(x.shape[0]):
            real = x[b][mask[b]]
            rows.append(real[:, 0] @ self.Phi(real[:, 1:3]))
        return torch.stack(rows)

    def forward(self, x, mask):
        return self.F(self.latent(x, mask))
''',
    ],
    "graph": [
        # window in terms of R directly; all pairs of consecutive layers at once, wrap with arctan2
        '''
def dphi_window(pt_min, b_field, radii, half_pitch):
    r = np.asarray(radii, dtype=np.float64)
    big_r = pt_min / (0.3 * b_field)
    return np.arcsin(r[1:] / (2 * big_r)) - np.arcsin(r[:-1] / (2 * big_r)) + half_pitch * (1 / r[:-1] + 1 / r[1:])


def build_hit_graph(layer, phi, window):
    layer, phi = np.asarray(layer), np.asarray(phi, dtype=np.float64)
    i, j = np.nonzero(layer[None, :] == layer[:, None] + 1)
    keep = (layer[i] < len(window))
    i, j = i[keep], j[keep]
    dphi = np.arctan2(np.sin(phi[j] - phi[i]), np.cos(phi[j] - phi[i]))
    ok = np.abs(dphi) < np.asarray(window)[layer[i]]
    return torch.tensor(np.stack([i[ok], j[ok]]), dtype=torch.long)
''',
        # a double loop (slow but correct), edges in another order; float32-free window
        '''
def dphi_window(pt_min, b_field, radii, half_pitch):
    out = []
    radius = pt_min / (0.3 * b_field)
    for r_in, r_out in zip(radii[:-1], radii[1:]):
        out.append(math.asin(r_out / (2 * radius)) - math.asin(r_in / (2 * radius)) + half_pitch / r_in + half_pitch / r_out)
    return np.array(out)


def build_hit_graph(layer, phi, window):
    edges = []
    for j in range(len(layer)):
        for i in range(len(layer)):
            if layer[j] == layer[i] + 1 and layer[i] < len(window):
                d = (phi[j] - phi[i] + math.pi) % (2 * math.pi) - math.pi
                if abs(d) < window[layer[i]]:
                    edges.append((i, j))
    return torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous()
''',
    ],
    "batch": [
        # a running offset in a loop
        '''
def batch_graphs(graphs):
    xs, eis, eas, ys, offset = [], [], [], [], 0
    for x, ei, ea, y in graphs:
        xs.append(x)
        eis.append(ei + offset)
        eas.append(ea)
        ys.append(y)
        offset += x.shape[0]
    return torch.cat(xs), torch.cat(eis, dim=1), torch.cat(eas), torch.cat(ys)
''',
        # offsets from torch.cumsum, repeated per edge
        '''
def batch_graphs(graphs):
    n_nodes = torch.tensor([g[0].shape[0] for g in graphs])
    n_edges = torch.tensor([g[1].shape[1] for g in graphs])
    offsets = torch.cumsum(n_nodes, 0) - n_nodes
    shift = torch.repeat_interleave(offsets, n_edges)
    edge_index = torch.cat([g[1] for g in graphs], dim=1) + shift
    return (torch.cat([g[0] for g in graphs]), edge_index.long(), torch.cat([g[2] for g in graphs]),
            torch.cat([g[3] for g in graphs]))
''',
    ],
    "gnn": [
        # scatter with index_add (not in place), two rounds of message passing, SiLU
        '''
def scatter_sum(messages, index, n_nodes):
    return messages.new_zeros((n_nodes,) + tuple(messages.shape[1:])).index_add(0, index, messages)


class InteractionNetwork(nn.Module):
    def __init__(self, node_dim, edge_dim, hidden=32):
        super().__init__()
        mlp = lambda a, b: nn.Sequential(nn.Linear(a, hidden), nn.SiLU(), nn.Linear(hidden, b))
        self.enc_node, self.enc_edge = mlp(node_dim, hidden), mlp(edge_dim, hidden)
        self.edge1, self.node1 = mlp(3 * hidden, hidden), mlp(3 * hidden, hidden)
        self.edge2, self.node2 = mlp(3 * hidden, hidden), mlp(3 * hidden, hidden)
        self.out = mlp(3 * hidden, 1)

    def forward(self, x, edge_index, edge_attr):
        s, t = edge_index
        h, m = self.enc_node(x), self.enc_edge(edge_attr)
        for edge_net, node_net in [(self.edge1, self.node1), (self.edge2, self.node2)]:
            m = m + edge_net(torch.cat([h[s], h[t], m], dim=1))
            h = h + node_net(torch.cat([h, scatter_sum(m, t, h.shape[0]), scatter_sum(m, s, h.shape[0])], dim=1))
        return self.out(torch.cat([h[s], h[t], m], dim=1))[:, 0]
''',
        # scatter_add_ with an expanded index; the reference architecture otherwise
        '''
def scatter_sum(messages, index, n_nodes):
    out = torch.zeros((n_nodes,) + tuple(messages.shape[1:]), dtype=messages.dtype, device=messages.device)
    idx = index.view(-1, *([1] * (messages.dim() - 1))).expand_as(messages)
    return out.scatter_add_(0, idx, messages)


class InteractionNetwork(nn.Module):
    def __init__(self, node_dim, edge_dim, hidden=32):
        super().__init__()
        def mlp(n_in, n_out):
            return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_out))
        self.relational = mlp(2 * node_dim + edge_dim, hidden)
        self.object = mlp(node_dim + 2 * hidden, hidden)
        self.classifier = mlp(3 * hidden, 1)

    def forward(self, x, edge_index, edge_attr):
        src, dst = edge_index
        m = self.relational(torch.cat([x[src], x[dst], edge_attr], dim=1))
        h = self.object(torch.cat([x, scatter_sum(m, dst, x.shape[0]), scatter_sum(m, src, x.shape[0])], dim=1))
        return self.classifier(torch.cat([h[src], h[dst], m], dim=1)).squeeze(-1)
''',
    ],
    "train": [
        # AdamW, OneCycle schedule, edges weighted equally within a batch
        '''
def train_gnn(model, graphs, n_epochs=12, batch_size=8, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    per_epoch = math.ceil(len(graphs) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=n_epochs * per_epoch)
    history = []
    for _ in range(n_epochs):
        model.train()
        perm = torch.randperm(len(graphs))
        losses = []
        for chunk in perm.split(batch_size):
            x, ei, ea, y = batch_graphs([graphs[int(k)] for k in chunk])
            loss = F.binary_cross_entropy_with_logits(model(x, ei, ea), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append(sum(losses) / len(losses))
    model.eval()
    return history
''',
        # Adam with a linear decay, the loss through sigmoid + BCE (clamped)
        '''
def train_gnn(model, graphs, n_epochs=12, batch_size=8, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = n_epochs * ((len(graphs) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / total)
    history = []
    for _ in range(n_epochs):
        order = torch.randperm(len(graphs)).tolist()
        batch_losses = []
        for start in range(0, len(order), batch_size):
            x, ei, ea, y = batch_graphs([graphs[k] for k in order[start:start + batch_size]])
            p = torch.sigmoid(model(x, ei, ea)).clamp(1e-7, 1 - 1e-7)
            loss = F.binary_cross_entropy(p, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            batch_losses.append(loss.item())
        history.append(float(np.mean(batch_losses)))
    model.eval()
    return history
''',
    ],
}
