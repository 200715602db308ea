"""PyTorch reference for MNIST Workbench's benchmark tasks (bench/SPEC.md), run on the same
machine and the same data as `mnist-workbench bench`, so the two can be compared side by side.

Install: pip install torch numpy. Run: python bench/torch_ref.py MNIST_DIR epoch|ensemble|latency

Tasks:
  epoch    : one epoch of MNIST train (60k), batch 64, Adam lr 1e-3, on the seed-003 CNN
             (conv32-bn-relu-pool, conv64-bn-relu-pool, fc320-relu-dropout0.4, fc10); prints samples/s and test acc.
  ensemble : seed-000 experiment: 50 SmallCNN models, 2 samples per digit each, full-batch AdamW lr 1e-3 wd 1e-4
             until train acc >= 0.99 (max 200 epochs), then each evaluated on the 10k test set; prints wall seconds.
  latency  : single-image forward of SmallCNN in eval mode, median ms over 200 calls.
Usage: python torch_ref.py DATA_DIR TASK [--threads N]
"""
import sys, time, gzip, struct, numpy as np, torch, torch.nn as nn, torch.nn.functional as F

def idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack('>I', data[:4])[0]
    nd = magic & 0xff
    dims = struct.unpack('>' + 'I' * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)

def load(d, train):
    p = 'train' if train else 't10k'
    x = torch.tensor(idx(f'{d}/{p}-images-idx3-ubyte.gz'), dtype=torch.float32).unsqueeze(1) / 255.0
    x = (x - 0.1307) / 0.3081
    y = torch.tensor(idx(f'{d}/{p}-labels-idx1-ubyte.gz').astype(np.int64))
    return x, y

class Seed3Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(1, 32, 3, padding=1); s.b1 = nn.BatchNorm2d(32)
        s.c2 = nn.Conv2d(32, 64, 3, padding=1); s.b2 = nn.BatchNorm2d(64)
        s.f1 = nn.Linear(64 * 7 * 7, 320); s.f2 = nn.Linear(320, 10); s.d = nn.Dropout(0.4)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.b1(s.c1(x))), 2)
        x = F.max_pool2d(F.relu(s.b2(s.c2(x))), 2)
        return s.f2(s.d(F.relu(s.f1(x.flatten(1)))))

class SmallCNN(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(1, 32, 3, padding=1); s.b1 = nn.BatchNorm2d(32)
        s.c2 = nn.Conv2d(32, 64, 3, padding=1); s.b2 = nn.BatchNorm2d(64)
        s.c3 = nn.Conv2d(64, 128, 3, padding=1); s.b3 = nn.BatchNorm2d(128)
        s.f1 = nn.Linear(128 * 3 * 3, 256); s.f2 = nn.Linear(256, 10); s.d = nn.Dropout(0.3)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.b1(s.c1(x))), 2)
        x = F.max_pool2d(F.relu(s.b2(s.c2(x))), 2)
        x = F.max_pool2d(F.relu(s.b3(s.c3(x))), 2)
        return s.f2(s.d(F.relu(s.f1(x.flatten(1)))))

def test_acc(m, x, y):
    m.eval(); c = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            c += (m(x[i:i+1000]).argmax(1) == y[i:i+1000]).sum().item()
    return c / len(x)

def main():
    d, task = sys.argv[1], sys.argv[2]
    if '--threads' in sys.argv:
        torch.set_num_threads(int(sys.argv[sys.argv.index('--threads') + 1]))
    torch.manual_seed(42); np.random.seed(42)
    xt, yt = load(d, False)
    if task == 'epoch':
        x, y = load(d, True)
        m = Seed3Net(); opt = torch.optim.Adam(m.parameters(), 1e-3)
        perm = torch.randperm(len(x)); t = time.perf_counter(); m.train()
        for i in range(0, len(x), 64):
            b = perm[i:i+64]; opt.zero_grad()
            F.cross_entropy(m(x[b]), y[b]).backward(); opt.step()
        el = time.perf_counter() - t
        print(f'epoch: {len(x)/el:.0f} samples/s, {el:.1f} s, test_acc {test_acc(m, xt, yt):.4f}')
    elif task == 'ensemble':
        x, y = load(d, True); yn = y.numpy()
        digit_idx = {k: np.where(yn == k)[0] for k in range(10)}
        rng = np.random.default_rng(42); t = time.perf_counter(); accs = []; epochs = []
        for _ in range(50):
            ind = np.concatenate([rng.choice(digit_idx[k], 2, replace=False) for k in range(10)])
            m = SmallCNN(); opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-4)
            X, Y = x[ind], y[ind]; m.train()
            for ep in range(200):
                opt.zero_grad(); out = m(X); F.cross_entropy(out, Y).backward(); opt.step()
                if (out.argmax(1) == Y).float().mean().item() >= 0.99: break
            epochs.append(ep + 1); accs.append(test_acc(m, xt, yt))
        el = time.perf_counter() - t
        print(f'ensemble: {el:.1f} s for 50 models, epochs {np.mean(epochs):.1f}, test acc {np.mean(accs):.4f} +- {np.std(accs):.4f}')
    elif task == 'latency':
        m = SmallCNN().eval(); ts = []
        with torch.no_grad():
            for i in range(220):
                t = time.perf_counter(); m(xt[i:i+1]).argmax(); ts.append(time.perf_counter() - t)
        print(f'latency: median {np.median(ts[20:])*1e3:.3f} ms')

main()
