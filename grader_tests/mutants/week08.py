"""Plausible wrong answers for week08; each must lose points (grader_tests/test_mutants.py)."""

_SETS = '''
class DeepSet(nn.Module):
    def __init__(self, n_features, latent_dim=16, hidden=32, n_out=1):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.rho = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def latent(self, x, mask):
        m = mask.unsqueeze(-1).to(x.dtype)
        return {pool}

    def forward(self, x, mask):
        return self.rho(self.latent(x, mask))


class EnergyFlowNetwork(nn.Module):
    def __init__(self, latent_dim=16, hidden=32, n_out=1):
        super().__init__()
        self.Phi = nn.Sequential(nn.Linear({phi_in}, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.F = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def latent(self, x, mask):
        weight = ({weight} * mask.to(x.dtype)).unsqueeze(-1)
        return (weight * self.Phi({phi_arg})).sum(dim=1)

    def forward(self, x, mask):
        return self.F(self.latent(x, mask))
'''
_SETS_OK = dict(pool="(self.phi(x) * m).sum(dim=1)", phi_in="2", weight="x[..., 0]", phi_arg="x[..., 1:3]")


def _sets(**change):
    return _SETS.format(**{**_SETS_OK, **change})


_GRAPH = '''
def dphi_window(pt_min, b_field, radii, half_pitch):
    radii = np.asarray(radii, dtype=float)
    radius = pt_min / (0.3 * b_field)
    return {window}


def build_hit_graph(layer, phi, window):
    layer, phi = np.asarray(layer), np.asarray(phi, dtype=float)
    sources, targets = [], []
    for l in range(len(window)):
        inner, outer = np.flatnonzero(layer == l), np.flatnonzero(layer == l + 1)
        dphi = {dphi}
        a, b = np.nonzero(np.abs(dphi) < window[l])
        sources.append(inner[a])
        targets.append(outer[b])
    return torch.as_tensor(np.stack([np.concatenate(sources), np.concatenate(targets)]), dtype=torch.long)
'''
_GRAPH_OK = dict(window="np.diff(np.arcsin(radii / (2 * radius))) + half_pitch / radii[:-1] + half_pitch / radii[1:]",
                 dphi="wrap_angle(phi[outer][None, :] - phi[inner][:, None])")


def _graph(**change):
    return _GRAPH.format(**{**_GRAPH_OK, **change})


_BATCH = '''
def batch_graphs(graphs):
    offsets = {offsets}
    x = torch.cat([g[0] for g in graphs])
    edge_index = torch.cat([g[1] + int(o) for g, o in zip(graphs, offsets)], dim=1)
    return x, edge_index, torch.cat([g[2] for g in graphs]), torch.cat([g[3] for g in graphs])
'''

_GNN = '''
def scatter_sum(messages, index, n_nodes):
    out = torch.zeros(n_nodes, *messages.shape[1:], dtype=messages.dtype, device=messages.device)
    {scatter}


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
        n = x.shape[0]
        m = self.relational(torch.cat([x[src], x[dst], edge_attr], dim=1))
        h = self.object(torch.cat([x, {agg_in}, {agg_out}], dim=1))
        return self.classifier(torch.cat([h[src], h[dst], m], dim=1)).squeeze(-1)
'''
_GNN_OK = dict(scatter="return out.index_add_(0, index, messages)",
               agg_in="scatter_sum(m, dst, n)", agg_out="scatter_sum(m, src, n)")


def _gnn(**change):
    return _GNN.format(**{**_GNN_OK, **change})


_TRAIN = '''
def train_gnn(model, graphs, n_epochs=12, batch_size=8, lr=3e-3):
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    n_batches = (len(graphs) + batch_size - 1) // batch_size
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=n_epochs * n_batches)
    history = []
    model.train()
    for _ in range({epochs}):
        order = torch.randperm(len(graphs)).tolist()
        total = 0.0
        for start in range(0, len(graphs), batch_size):
            x, edge_index, edge_attr, y = batch_graphs([graphs[k] for k in order[start:start + batch_size]])
            loss = F.binary_cross_entropy_with_logits(model(x, edge_index, edge_attr), {target})
            optimiser.zero_grad()
            loss.backward()
            {step}
            schedule.step()
            total += loss.item()
        history.append(total{norm})
    model.eval()
    return history
'''
_TRAIN_OK = dict(epochs="n_epochs", target="y", step="optimiser.step()", norm=" / n_batches")


def _train(**change):
    return _TRAIN.format(**{**_TRAIN_OK, **change})


MUTANTS = {
    "sets": [
        # mean pooling: not additive
        _sets(pool="(self.phi(x) * m).sum(dim=1) / m.sum(dim=1)"),
        # the padding is pooled too
        _sets(pool="self.phi(x).sum(dim=1)"),
        # max pooling
        _sets(pool="(self.phi(x) * m - 1e9 * (1 - m)).max(dim=1).values"),
        # Phi also sees z: IR safe but not collinear safe
        _sets(phi_in="3", phi_arg="x"),
        # not weighted by z: IR unsafe
        _sets(weight="torch.ones_like(x[..., 0])"),
    ],
    "graph": [
        # no wrapping at phi = +-pi
        _graph(dphi="phi[outer][None, :] - phi[inner][:, None]"),
        # forgot the hit resolution
        _graph(window="np.diff(np.arcsin(radii / (2 * radius)))"),
        # small-angle approximation: too tight, loses soft tracks' segments
        _graph(window="np.diff(radii) / (2 * radius) + half_pitch / radii[:-1] + half_pitch / radii[1:]"),
        # the resolution counted once
        _graph(window="np.diff(np.arcsin(radii / (2 * radius))) + half_pitch / radii[1:]"),
    ],
    "batch": [
        # no shift of the node indices
        _BATCH.format(offsets="[0] * len(graphs)"),
        # shifted by the number of edges
        _BATCH.format(offsets="np.cumsum([0] + [g[1].shape[1] for g in graphs[:-1]])"),
        # shifted by the nodes up to and including the graph itself
        _BATCH.format(offsets="np.cumsum([g[0].shape[0] for g in graphs])"),
    ],
    "gnn": [
        # assignment instead of accumulation: repeated indices keep only one message
        _gnn(scatter="out[index] = messages\n    return out"),
        # no message passing: an MLP per edge
        _gnn(agg_in="torch.zeros(n, m.shape[1])", agg_out="torch.zeros(n, m.shape[1])"),
        # global pooling: every node gets the sum of all messages
        _gnn(agg_in="m.sum(dim=0, keepdim=True).expand(n, -1)", agg_out="m.mean(dim=0, keepdim=True).expand(n, -1)"),
        # aggregated at the wrong node: the message of edge e goes to node e
        _gnn(agg_in="scatter_sum(m, torch.arange(m.shape[0]) % n, n)"),
    ],
    "train": [
        # labels flipped
        _train(target="1.0 - y"),
        # the optimiser never steps
        _train(step="pass"),
        # sum instead of mean over the batches
        _train(norm=""),
        # always 12 epochs
        _train(epochs="12"),
    ],
}
