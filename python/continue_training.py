#!/usr/bin/env python3
"""Continue a run exported from the browser trainer in PyTorch, and write a checkpoint it can import.

    python3 python/continue_training.py EXPORT --steps 100 --out OUT

EXPORT is a folder holding an exported checkpoint (`{model}_cp={tag}_{model,optim,trainer}.th`,
at any depth, e.g. `<run>/<stage>/checkpoints/`) or the `.zip` the app exports. `--checkpoint`
picks the tag (default `latest`). The script

- rebuilds the model from the model part's `model_config` (python/models.py) and loads the
  weights with load_state_dict(strict=True);
- rebuilds the optimizer from the run config (Adam, SGD or RMSprop, PyTorch's defaults as the app
  uses them) and loads the optim part, matching parameters by `param_idx_to_name`;
- rebuilds the names data exactly as the app does (same word lists, split, vocabulary, windows) and
  walks the same per-epoch sample order from the trainer part's data cursor: the app's order is
  a pure function of (seed, epoch) drawn from its own sfc32 generator, ported below, so the
  batches continue exactly where the browser stopped, not from PyTorch's RNG;
- trains N updates with the app's learning-rate schedule and loss (mean cross entropy), and writes
  `OUT/<run>/<stage>/checkpoints/{model}_cp=E{e}_U{u}_S{s}_{part}.th` and the same bytes as
  `..._cp=latest_{part}.th`, with the trainer counters, RNG state and data cursor advanced.

What does not continue bit for bit: float arithmetic (PyTorch's kernels sum in another order
than tfjs's), and dropout masks (the app draws them from tfjs's seeded uniforms; here they would
come from torch's generator; char-mlp has no dropout). Only the `names` task is rebuilt here; for
other tasks load the model with python/models.py and bring your own data.

Nothing in the checkpoint is executed: files are opened with torch.load(weights_only=True).
"""
import argparse
import math
import os
import pickle
import re
import sys
import tempfile
import types
import zipfile
from collections import OrderedDict

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import build_model  # noqa: E402

M32 = 0xFFFFFFFF
NAME_RE = re.compile(r"^(?P<stem>(?P<model>[A-Za-z0-9][A-Za-z0-9.-]*)(?:_(?P<info>[A-Za-z0-9.=_-]+?))?_cp=(?P<tag>[^/]+?))_(?P<part>model|optim|trainer)\.th$")


# ---- the app's generator (src/data/rng.ts), so the data order continues exactly ---------------

def mix32(x):
    x &= M32
    x = ((x ^ (x >> 16)) * 0x85EBCA6B) & M32
    x = ((x ^ (x >> 13)) * 0xC2B2AE35) & M32
    return (x ^ (x >> 16)) & M32


class Rng:
    """sfc32 with the app's seeding; every value matches src/data/rng.ts."""

    def __init__(self, state):
        self.s = [w & M32 for w in state]

    @staticmethod
    def from_seed(*seeds):
        h = 0x9E3779B9
        for seed in seeds:
            h = mix32(h ^ (seed & M32))
        rng = Rng([0x243F6A88, mix32(h), mix32(h + 1), mix32(h + 2)])
        for _ in range(12):
            rng.next_u32()
        return rng

    def next_u32(self):
        s = self.s
        t = (((s[0] + s[1]) & M32) + s[3]) & M32
        s[3] = (s[3] + 1) & M32
        s[0] = s[1] ^ (s[1] >> 9)
        s[1] = (s[2] + (s[2] << 3)) & M32
        s[2] = ((s[2] << 21) | (s[2] >> 11)) & M32
        s[2] = (s[2] + t) & M32
        return t

    def int(self, n):
        return math.floor(self.next_u32() / 4294967296 * n)

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = self.int(i + 1)
            a[i], a[j] = a[j], a[i]


def js_round(x):
    return math.floor(x + 0.5)


# ---- the names data (src/data/names-source.ts, char-lm-dataset.ts, char-vocab.ts) ---------------

def names_files(root):
    base = os.path.join(root, "node_modules", "@stdlib")
    return [os.path.join(base, f"datasets-{s}-first-names-en", "data", "names.txt") for s in ("female", "male")]


def load_words(paths):
    words = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            words += re.split(r"\r?\n", f.read())
    return [w for w in words if w.strip()]


def build_dataset(words, context, val_fraction, seed):
    unique = list(OrderedDict.fromkeys(w.strip().lower() for w in words if w.strip()))
    chars = [".", "\ufffd"] + sorted({c for w in unique for c in w if c not in (".", "\ufffd")})
    index = {c: i for i, c in enumerate(chars)}
    shuffled = list(unique)
    Rng.from_seed(seed, 0x5B17).shuffle(shuffled)
    n_val = max(1, js_round(len(shuffled) * val_fraction))
    train = shuffled[n_val:]
    xs, ys = [], []
    for w in train:
        window = [0] * context
        for c in list(w) + [None]:
            target = 0 if c is None else index[c]
            xs.append(list(window))
            ys.append(target)
            window = window[1:] + [target]
    return chars, torch.tensor(xs, dtype=torch.long), torch.tensor(ys, dtype=torch.long)


def epoch_order(size, seed, epoch):
    order = list(range(size))
    Rng.from_seed(seed, 0x5EED, epoch).shuffle(order)
    return order


def learning_rate_at(cfg, update, total_updates):
    """src/worker/schedule.ts."""
    lr, warmup = cfg["lr"], cfg["warmup"]
    if warmup > 0 and update < warmup:
        return lr * (update + 1) / warmup
    t = min(1.0, max(0.0, (update - warmup) / max(1, total_updates - warmup)))
    if cfg["schedule"] == "linear":
        return lr * (1 - t)
    if cfg["schedule"] == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * t))
    return lr


# ---- checkpoint files ---------------------------------------------------------------------------

def find_parts(root, tag):
    """The {part: path} of the checkpoint with this tag under root (folder or exported .zip)."""
    if os.path.isfile(root) and root.endswith(".zip"):
        out = tempfile.mkdtemp(prefix="ckpt-")
        with zipfile.ZipFile(root) as z:
            for name in z.namelist():
                if name.startswith("/") or ".." in name.split("/"):
                    raise SystemExit(f"refusing zip entry outside its folder: {name}")
            z.extractall(out)
        root = out
    found = {}
    for folder, _, files in os.walk(root):
        for f in files:
            m = NAME_RE.match(f)
            if m and m.group("tag") == tag and not m.group("info"):
                if m.group("part") in found:
                    raise SystemExit(f"more than one {tag} checkpoint under {root}: pass a narrower folder")
                found[m.group("part")] = os.path.join(folder, f)
    missing = [p for p in ("model", "optim", "trainer") if p not in found]
    if missing:
        raise SystemExit(f"no complete checkpoint {tag!r} under {root}: missing the {', '.join(missing)} part(s)")
    return found


def make_optimizer(params, run):
    """The app's optimizers (src/worker/optim.ts) in torch.optim, with the run's settings."""
    kind, lr, wd, momentum = run["optimizer"], run["lr"], run.get("weight_decay", 0), run.get("momentum", 0)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8, momentum=momentum, weight_decay=wd)
    raise SystemExit(f"unknown optimizer {kind!r}")


class _AllowListUnpickler(pickle.Unpickler):
    """What weights_only=True allows: tensors, storages, OrderedDict; any other global is refused."""

    def find_class(self, module, name):
        if (module, name) in (("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                              ("torch._utils", "_rebuild_parameter")) or (module == "torch" and name.endswith("Storage")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")


_SAFE_PICKLE = types.SimpleNamespace(Unpickler=_AllowListUnpickler, load=None, __name__="safe_pickle")


def safe_load(path):
    """torch.load(weights_only=True); PyTorch 1.13's weights-only unpickler lacks BINFLOAT (float
    values, as in an optimizer's param_groups), so there the same allow-list is applied through an
    unpickler of our own. Nothing in the file is executed either way."""
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported operand" not in str(e):
            raise
        return torch.load(path, pickle_module=_SAFE_PICKLE, weights_only=False)


def load_checkpoint(paths):
    model_part = safe_load(paths["model"])
    optim_part = safe_load(paths["optim"])
    trainer_part = safe_load(paths["trainer"])
    model = build_model(model_part["model_config"])
    model.load_state_dict(model_part["state_dict"], strict=True)
    named = dict(model.named_parameters())
    idx_to_name = optim_part["param_idx_to_name"]
    group = optim_part["param_groups"][0]
    try:
        ordered = [named[idx_to_name[i]] for i in group["params"]]
    except KeyError as e:
        raise SystemExit(f"the optimizer state names a parameter the model does not have: {e}")
    optimizer = make_optimizer(ordered, trainer_part["config"])
    state = {"state": optim_part["state"], "param_groups": [{k: v for k, v in group.items()}]}
    optimizer.load_state_dict(state)
    return model_part, optim_part, trainer_part, model, optimizer, idx_to_name


def save_checkpoint(out_root, model_part, trainer_part, model, optimizer, idx_to_name, counters, optim_kind):
    run_id, stage = model_part["run_id"], model_part.get("stage_name")
    folder = os.path.join(out_root, run_id, *( [stage] if stage else []), "checkpoints")
    os.makedirs(folder, exist_ok=True)
    tag = f"E{counters['epoch']}_U{counters['update']}_S{counters['sample']}"
    name = model_part["model_name"]
    new_model = dict(model_part)
    new_model["state_dict"] = OrderedDict((k, v.detach().clone().float().contiguous()) for k, v in model.state_dict().items())
    new_model["checkpoint_tag"] = tag
    new_model["training_iteration"] = dict(counters)
    sd = optimizer.state_dict()
    new_optim = {"state": sd["state"], "param_groups": sd["param_groups"], "param_idx_to_name": dict(idx_to_name), "optimizer": optim_kind}
    written = []
    for t in (tag, "latest"):
        for part, value in (("model", new_model), ("optim", new_optim), ("trainer", trainer_part)):
            path = os.path.join(folder, f"{name}_cp={t}_{part}.th")
            tmp = path + ".tmp"
            torch.save(value, tmp)
            os.replace(tmp, path)  # a crash leaves the previous file or the new one
            written.append(path)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export", help="exported checkpoint folder or .zip")
    ap.add_argument("--steps", type=int, required=True, help="updates to train")
    ap.add_argument("--out", required=True, help="output_dir to write <run>/<stage>/checkpoints/ under")
    ap.add_argument("--checkpoint", default="latest", help="tag to continue from (default latest)")
    ap.add_argument("--data", nargs="*", help="word list file(s), one word a line (default: the app's names lists)")
    ap.add_argument("--project", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), help="where node_modules is")
    args = ap.parse_args(argv)

    paths = find_parts(args.export, args.checkpoint)
    model_part, optim_part, trainer_part, model, optimizer, idx_to_name = load_checkpoint(paths)
    run = trainer_part["config"]
    cfg = model_part["model_config"]
    if run.get("task") != "names" or cfg.get("kind") != "char-mlp":
        raise SystemExit(f"continue_training.py rebuilds the names task with char-mlp; this run is {run.get('task')} with {cfg.get('kind')}")
    chars, xs, ys = build_dataset(load_words(args.data or names_files(args.project)), cfg["context"], run["val_fraction"], run["seed"])
    if chars != list(cfg["vocabulary"]["chars"]):
        raise SystemExit("the data's vocabulary differs from the checkpoint's: pass the same word lists the run trained on")

    size = len(ys)
    batch = run["batch_size"]
    total_updates = math.ceil(size / batch) * run["epochs"]
    c = dict(trainer_part["training_iteration"])
    epoch, index = c["epoch"], c["sample"] - c["epoch"] * size
    rng = Rng(trainer_part["rng_state"])
    order, order_epoch = epoch_order(size, run["seed"], epoch), epoch
    model.train()
    for _ in range(args.steps):
        if epoch >= run["epochs"]:
            break
        if order_epoch != epoch:
            order, order_epoch = epoch_order(size, run["seed"], epoch), epoch
        end = min(index + batch, size)
        idx = torch.tensor(order[index:end], dtype=torch.long)
        lr = learning_rate_at(run, c["update"], total_updates)
        for g in optimizer.param_groups:
            g["lr"] = lr
        rng.next_u32()  # the app draws the step's dropout seed here
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xs[idx]), ys[idx])
        loss.backward()
        optimizer.step()
        epoch_end = end >= size
        c = {"epoch": c["epoch"] + (1 if epoch_end else 0), "update": c["update"] + 1, "sample": c["sample"] + len(idx)}
        epoch, index = (epoch + 1, 0) if epoch_end else (epoch, end)
        print(f"update {c['update']} loss {loss.item():.4f}", file=sys.stderr)

    trainer = dict(trainer_part)
    trainer["training_iteration"] = dict(c)
    trainer["lr_schedule"] = dict(trainer_part["lr_schedule"], position=c["update"], total_updates=total_updates)
    trainer["rng_state"] = list(rng.s)
    trainer["data_cursor"] = {"seed": run["seed"], "epoch": epoch, "index": index}
    trainer["backend"] = "pytorch"
    written = save_checkpoint(args.out, model_part, trainer, model, optimizer, idx_to_name, c, optim_part.get("optimizer", run["optimizer"]))
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
