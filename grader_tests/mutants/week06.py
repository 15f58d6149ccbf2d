"""Plausible wrong answers for week06; each must lose points (grader_tests/test_mutants.py)."""

from pathlib import Path

import nbformat

from gradehub.variants import notebook_spec, preview_seed

# Another student's variant (the public preview variant 1; the source holds variant 0): a right
# answer computed on that oscillator must lose the points that depend on the student's data.
_SPEC = notebook_spec(nbformat.read(Path(__file__).resolve().parents[2] / "source" / "week06" / "week06.ipynb",
                                    as_version=4))
_OTHER = _SPEC.draw(preview_seed(1))
_NEIGHBOUR_SERIES = (
    f"_seed_o, _p_o = {_OTHER.seed}, {_OTHER.parameters!r}\n"
    "_series_o = (damped_oscillator(t_grid, _p_o['TRUE_GAMMA'], _p_o['TRUE_OMEGA0'])\n"
    "             + _p_o['NOISE'] * np.random.default_rng([_seed_o, 3]).normal(size=N_STEPS))\n"
)

# ----------------------------------------------------------------------------- Part 1
_RNN = '''
def rnn_forward(x, W_ih, W_hh, b_ih, b_hh, h0=None):
    n, n_steps, _ = x.shape
    h = torch.zeros(n, W_hh.shape[0], dtype=x.dtype) if h0 is None else h0
    states = []
    for t in range(n_steps):
        h = torch.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states.append(h)
    return torch.stack(states, dim=1)
'''

# ----------------------------------------------------------------------------- Part 2
_JACOBIAN_LOOP = '''
def input_jacobian(model, x):
    x = x.detach().clone().requires_grad_(True)
    out = model(x.reshape(1, -1, 1)).reshape(-1)
    rows = []
    for t in range(len(out)):
        out[t].backward(retain_graph=True)
        rows.append(x.grad.clone())          # x.grad is never reset: the rows accumulate
    return torch.stack(rows)
'''
_JACOBIAN = '''
def input_jacobian(model, x):
    flat = lambda v: model(v.reshape(1, -1, 1)).reshape(-1)
    return torch.autograd.functional.jacobian(flat, x.detach().clone()).detach()
'''

# ----------------------------------------------------------------------------- Part 3
_MODEL = '''
class SequenceRegressor(nn.Module):
    def __init__(self, cell="lstm", hidden_size=16):
        super().__init__()
        recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell]
        self.recurrent = recurrent(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        states, _ = self.recurrent(x)
        return GAMMA_MEAN + GAMMA_SCALE * self.head(states).squeeze(-1)
'''
_MODEL_BIDIRECTIONAL = '''
class SequenceRegressor(nn.Module):
    def __init__(self, cell="lstm", hidden_size=16):
        super().__init__()
        recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell]
        self.recurrent = recurrent(1, hidden_size, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden_size, 1)

    def forward(self, x):
        states, _ = self.recurrent(x)
        return GAMMA_MEAN + GAMMA_SCALE * self.head(states).squeeze(-1)
'''
_MODEL_LAST_STATE = '''
class SequenceRegressor(nn.Module):
    def __init__(self, cell="lstm", hidden_size=16):
        super().__init__()
        recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell]
        self.recurrent = recurrent(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        states, _ = self.recurrent(x)
        final = GAMMA_MEAN + GAMMA_SCALE * self.head(states[:, -1])       # (N, 1)
        return final.expand(-1, x.shape[1])                                # the same at every step
'''

# ----------------------------------------------------------------------------- Part 4
_TRAIN = '''
def train_regressor(model, X, y, epochs=20, seed=0, lr=1e-2, batch_size=64):
    torch.manual_seed(seed)
    model_device = next(model.parameters()).device
    X, y = X.float().to(model_device), y.float().to(model_device)
    half = X.shape[1] // 2
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(X)).to(model_device)
        total = 0.0
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            loss = ((model(X[batch])[:, half:] - y[batch, None]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += loss.item() * len(batch)
        losses.append(total / len(X))
    return losses
'''

# ----------------------------------------------------------------------------- Part 5
_FIT = '''
def fit_damping(t, x):
    t, x = np.asarray(t, dtype=float), np.asarray(x, dtype=float)
    params, _ = scipy.optimize.curve_fit(MODEL, t, x, p0=(0.3, 2.25))
    return float(params[0]), float(params[1])
'''

MUTANTS = {
    "rnn": [
        # weights not transposed
        _RNN.replace("x[:, t] @ W_ih.T", "x[:, t] @ W_ih").replace("h @ W_hh.T", "h @ W_hh"),
        # the hidden-hidden bias forgotten
        _RNN.replace(" + b_hh)", ")"),
        # only the final state
        _RNN.replace("return torch.stack(states, dim=1)", "return h"),
        # off by one: the state BEFORE each step
        _RNN.replace("        h = torch.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)\n        states.append(h)",
                     "        states.append(h)\n        h = torch.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)"),
        # ReLU instead of tanh
        _RNN.replace("torch.tanh(", "torch.relu("),
        # the given h0 is ignored
        _RNN.replace("if h0 is None else h0", ""),
    ],
    "jacobian": [
        # rows and columns swapped
        _JACOBIAN.replace(".detach()\n", ".detach().T\n"),
        # gradients accumulate in x.grad between rows
        _JACOBIAN_LOOP,
        # assumes causality
        _JACOBIAN.replace(".detach()\n", ".detach().tril()\n"),
        # the gradient of the summed output, copied into every row
        "def input_jacobian(model, x):\n"
        "    x = x.detach().clone().requires_grad_(True)\n"
        "    g = torch.autograd.grad(model(x.reshape(1, -1, 1)).sum(), x)[0]\n"
        "    return g.expand(len(x), -1).clone()",
    ],
    "model": [
        # bidirectional: looks into the future
        _MODEL_BIDIRECTIONAL,
        # normalises each series by its largest |x|: looks into the future
        _MODEL.replace("states, _ = self.recurrent(x)",
                       "states, _ = self.recurrent(x / x.abs().amax(dim=1, keepdim=True))"),
        # only the final estimate, shape (N,)
        _MODEL.replace("self.head(states).squeeze(-1)", "self.head(states[:, -1]).squeeze(-1)"),
        # the final estimate copied to every step
        _MODEL_LAST_STATE,
        # always an LSTM, whatever cell says
        _MODEL.replace('recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM}[cell]', "recurrent = nn.LSTM"),
    ],
    "train": [
        # trains a copy: the model passed in stays untrained
        _TRAIN.replace("    torch.manual_seed(seed)\n", "    torch.manual_seed(seed)\n    import copy\n    model = copy.deepcopy(model)\n"),
        # the loss on the FIRST half: the final estimate is never trained
        _TRAIN.replace("[:, half:]", "[:, :half]"),
        # the optimiser never steps
        _TRAIN.replace("            optimiser.step()\n", ""),
        # a learning rate too small to move (ignores lr)
        _TRAIN.replace("lr=lr)", "lr=1e-6)"),
        # the loss over all steps (trains well, but not the loss asked for)
        _TRAIN.replace("[:, half:]", "[:, :]"),
        # the loss on the last step only
        _TRAIN.replace("[:, half:]", "[:, -1:]"),
        # off by one: the second half without its first step
        _TRAIN.replace("[:, half:]", "[:, half + 1:]"),
        # the half hard-coded for T = 50
        _TRAIN.replace("half = X.shape[1] // 2", "half = 25"),
        # summed instead of averaged squared errors
        _TRAIN.replace("** 2).mean()", "** 2).sum()"),
    ],
    "fit": [
        # the sine term is missing (wrong initial velocity)
        "def MODEL(t, g, w):\n    return np.exp(-g * t) * np.cos(np.sqrt(w ** 2 - g ** 2) * t)\n" + _FIT,
        # fits the damped frequency omega_d as if it were omega0
        "def MODEL(t, g, w):\n    return np.exp(-g * t) * (np.cos(w * t) + g / w * np.sin(w * t))\n" + _FIT,
        # the two parameters returned in the wrong order
        "MODEL = damped_oscillator\n" + _FIT.replace("return float(params[0]), float(params[1])",
                                                      "return float(params[1]), float(params[0])"),
        # omega0 fixed at the middle of the prior, only gamma fitted
        "def fit_damping(t, x):\n"
        "    params, _ = scipy.optimize.curve_fit(lambda t, g: damped_oscillator(t, g, 2.25), t, x, p0=(0.3,))\n"
        "    return float(params[0]), 2.25",
        # the envelope from the extrema: a straight-line fit to log|x| at the local maxima of |x|
        "def fit_damping(t, x):\n"
        "    t, x = np.asarray(t, dtype=float), np.abs(np.asarray(x, dtype=float))\n"
        "    peaks = np.r_[0, np.where((x[1:-1] > x[:-2]) & (x[1:-1] > x[2:]))[0] + 1]\n"
        "    slope = np.polyfit(t[peaks], np.log(x[peaks]), 1)[0]\n"
        "    return float(-slope), 2.25",
    ],
    "measurement": [
        # copied from a neighbour: the right method on another variant's measured series
        _NEIGHBOUR_SERIES + "MY_GAMMA, MY_OMEGA0 = fit_damping(t_grid, _series_o)\nMY_Q = MY_OMEGA0 / (2 * MY_GAMMA)",
        # the true values of the simulation (which a real experiment does not know) instead of the fit
        "MY_GAMMA, MY_OMEGA0 = TRUE_GAMMA, TRUE_OMEGA0\nMY_Q = MY_OMEGA0 / (2 * MY_GAMMA)",
        # the damped frequency omega_d instead of omega0
        "MY_GAMMA, _w = fit_damping(t_grid, my_series)\nMY_OMEGA0 = float(np.sqrt(_w ** 2 - MY_GAMMA ** 2))\n"
        "MY_Q = MY_OMEGA0 / (2 * MY_GAMMA)",
        # Q without the factor 2 (omega0 / gamma)
        "MY_GAMMA, MY_OMEGA0 = fit_damping(t_grid, my_series)\nMY_Q = MY_OMEGA0 / MY_GAMMA",
        # rounded to 2 significant digits: too coarse for the measurement asked for
        "_g, _w = fit_damping(t_grid, my_series)\nMY_GAMMA, MY_OMEGA0 = float(f'{_g:.2g}'), float(f'{_w:.2g}')\n"
        "MY_Q = float(f'{_w / (2 * _g):.2g}')",
        # the LSTM's estimate of gamma instead of the fit (and the fit's omega0)
        "_g, MY_OMEGA0 = fit_damping(t_grid, my_series)\nwith torch.no_grad():\n"
        "    _x = torch.tensor(my_series[None, :, None], dtype=torch.float32).to(device)\n"
        "    MY_GAMMA = lstm_model(_x)[0, -1].item()\n"
        "MY_Q = MY_OMEGA0 / (2 * MY_GAMMA)",
    ],
}
