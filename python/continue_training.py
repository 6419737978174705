#!/usr/bin/env python3
"""Continue a run exported from the browser trainer in PyTorch, on one process or many, and write
checkpoints the app imports.

    python3 python/continue_training.py EXPORT --steps N --out OUT [--data FILE]
    python3 -m torch.distributed.run --nproc_per_node 2 python/continue_training.py EXPORT --steps N --out OUT

EXPORT is the `.zip` the app exports or a folder holding `{model}_cp={tag}_{model,optim,trainer}.th`
at any depth; `--checkpoint` picks the tag (default `latest`). Every built-in model and task
continues: names with char-mlp or gpt, g2p (CMUdict) with seq2seq, spam with text-mlp, and the
user's own `.txt` (char-mlp, gpt) or `.tsv` (seq2seq) passed as `--data FILE`.

From the checkpoint come the model (python/models.py, load_state_dict strict), its vocabulary, the
run config, the optimizer state (matched by parameter name), the learning-rate position, the
counters, the RNG state and the data cursor. The data is rebuilt from the files the app bundles
(node_modules/@stdlib, src/data/assets, under --project) exactly as the app builds it (app_data.py,
app_tasks.py) and encoded with the checkpoint's vocabulary: data it cannot encode is refused by
name, as in the app. The batches continue where the app stopped, in the app's order.

Under torchrun every process builds the same data and each of the app's batches is split across
the processes in contiguous slices (sizes differing by at most one row; a process left without a
row when the batch is smaller than the number of processes adds zero). Each process sums its
slice's loss and divides by the whole batch's count, times the number of processes, so that
DistributedDataParallel's gradient average is exactly the gradient of the app's mean loss: an
update sees the same samples whatever the number of processes. gloo on CPU, nccl where CUDA is
present (one GPU per process), chosen by itself.

Rank 0 writes each checkpoint under Noether's names, `OUT/<run>/<stage>/checkpoints/`, with
`module.` stripped from the parameter names: the parts go to hidden temporary files, are flushed to
disk, then renamed into place, model, optim and trainer last, the periodic `E{e}_U{u}_S{s}` tag
before `latest` (whose old trainer part is removed first, so `latest` never mixes two saves). All
ranks wait for it. Checkpoints come every `--save_every` updates (and at the run config's other
triggers), the newest `--keep_checkpoint` periodic ones are kept, and a checkpoint is written when
the job ends, on Ctrl-C or SIGTERM. Started again with the same command, a job continues from the
newest complete checkpoint in OUT (after removing leftovers of a save it was killed in) and stops at
the same update: `--steps` counts from the exported checkpoint.

What does not continue bit for bit: float arithmetic (PyTorch sums in other orders than tfjs, and
across processes in other orders again), and dropout masks, which come from torch's generator
seeded from the app's per-update seed and the process's rank, so they differ from the app's and
between process counts (they are the same again when a job is rerun on as many processes).

The run's history goes on too: rank 0 keeps the stage's metrics log, `OUT/<run>/<stage>/metrics.jsonl`
(src/checkpoint/run-log.ts has the line format). The first time, it starts from the export's own log
(entries up to the exported checkpoint), then appends a `resume` line, each update's training loss
and each validation, with `"backend": "pytorch"`, flushed to disk with every checkpoint and at the end.
A rerun first cuts the log back to the checkpoint it continues from, as the app does on a resume.

Nothing in a checkpoint is executed: files are read with torch.load(weights_only=True) or an
unpickler allowing the same globals.
"""
import argparse
import atexit
import io
import json
import math
import os
import pickle
import re
import shutil
import signal
import sys
import tempfile
import time
import types
import zipfile
from collections import OrderedDict

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import app_data as D  # noqa: E402
from app_data import Rng  # noqa: E402
from app_tasks import build_task  # noqa: E402
from models import build_model  # noqa: E402

NAME_RE = re.compile(r"^(?P<stem>(?P<model>[A-Za-z0-9][A-Za-z0-9.-]*)(?:_(?P<info>[A-Za-z0-9.=_-]+?))?_cp=(?P<tag>[^/]+?))_(?P<part>model|optim|trainer)\.th$")
PERIODIC_RE = re.compile(r"^E(0|[1-9][0-9]*)_U(0|[1-9][0-9]*)_S(0|[1-9][0-9]*)$")
PARTS = ("model", "optim", "trainer")
TMP_MARK = ".tmp-"


class CheckpointError(Exception):
    """A checkpoint that cannot be continued, and why."""


def learning_rate_at(cfg, update, total_updates):
    """src/worker/schedule.ts learningRateAt."""
    lr, warmup = cfg["lr"], cfg["warmup"]
    if warmup > 0 and update < warmup:
        return lr * (update + 1) / warmup
    t = min(1.0, max(0.0, (update - warmup) / max(1, total_updates - warmup)))
    if cfg["schedule"] == "linear":
        return lr * (1 - t)
    if cfg["schedule"] == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * t))
    return lr


def periodic_due(policy, before, after, epoch_end):
    """src/checkpoint/save-policy.ts periodicDue."""
    if after["update"] < policy["checkpoint_after"]:
        return False

    def crossed(every, a, b):
        return every > 0 and b // every > a // every

    return (crossed(policy["save_every"], before["update"], after["update"])
            or crossed(policy["save_every_samples"], before["sample"], after["sample"])
            or crossed(policy["save_every_epochs"], before["epoch"], after["epoch"])
            or (policy["save_at_epoch_end"] and epoch_end))


# ---- reading checkpoints ----------------------------------------------------------------------

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
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported operand" not in str(e):
            raise
        return torch.load(path, map_location="cpu", pickle_module=_SAFE_PICKLE, weights_only=False)


def open_export(root):
    """The folder to read an export from: the folder itself, or a `.zip` unpacked to a temporary one."""
    if os.path.isfile(root) and root.endswith(".zip"):
        out = tempfile.mkdtemp(prefix="ckpt-")
        atexit.register(shutil.rmtree, out, True)
        with zipfile.ZipFile(root) as z:
            for info in z.infolist():
                name = info.filename
                if name.startswith("/") or "\\" in name or ".." in name.split("/"):
                    raise CheckpointError(f"refusing zip entry outside its folder: {name}")
            z.extractall(out)
        return out
    if not os.path.isdir(root):
        raise CheckpointError(f"{root} is neither an exported .zip nor a folder")
    return root


def scan(root, model_name=None, info=None):
    """{(model, tag): {part: path}} of the checkpoint files under root (any depth); temporary files are not checkpoints."""
    found = {}
    for folder, _, files in os.walk(root):
        for f in files:
            m = NAME_RE.match(f)
            if not m or m.group("info") != info or (model_name and m.group("model") != model_name):
                continue
            key = (m.group("model"), m.group("tag"))
            parts = found.setdefault(key, {})
            if m.group("part") in parts:
                raise CheckpointError(f"more than one {m.group('tag')} checkpoint under {root}: pass a narrower folder")
            parts[m.group("part")] = os.path.join(folder, f)
    return found


def find_parts(root, tag):
    """The {part: path} of the checkpoint with this tag under root (folder or exported .zip)."""
    root = open_export(root)
    matches = [parts for (_, t), parts in scan(root).items() if t == tag]
    if not matches:
        raise CheckpointError(f"no checkpoint {tag!r} under {root}")
    if len(matches) > 1:
        raise CheckpointError(f"more than one {tag} checkpoint under {root}: pass a narrower folder")
    missing = [p for p in PARTS if p not in matches[0]]
    if missing:
        raise CheckpointError(f"no complete checkpoint {tag!r} under {root}: missing the {', '.join(missing)} part(s)")
    return matches[0]


def counters_of(part):
    c = part.get("training_iteration") or {}
    return (int(c.get("epoch", -1)), int(c.get("update", -1)), int(c.get("sample", -1)))


def read_parts(paths):
    """The three parts, checked to be of one save (the same counters in each part that records them)."""
    parts = {}
    for p in PARTS:
        try:
            parts[p] = safe_load(paths[p])
        except pickle.UnpicklingError as e:
            why = str(e).split("WeightsUnpickler error: ")[-1]
            raise CheckpointError(f"{paths[p]} holds more than tensors and plain values; refused, nothing in it was run ({why})") from None
    seen = {p: counters_of(v) for p, v in parts.items() if isinstance(v, dict) and "training_iteration" in v}
    if "model" not in seen or "trainer" not in seen:
        raise CheckpointError(f"{paths['model']}: the model or trainer part has no training_iteration (is it a checkpoint of the app?)")
    if len(set(seen.values())) != 1:
        raise CheckpointError(f"{paths['model']}: its parts are from different saves ({seen})")
    return parts


def load_checkpoint(paths):
    """Model, optimizer and parts of a checkpoint: (model_part, optim_part, trainer_part, model, optimizer, idx_to_name)."""
    parts = read_parts(paths)
    model, optimizer, idx_to_name = build_training_state(parts["model"], parts["optim"], parts["trainer"]["config"])
    return parts["model"], parts["optim"], parts["trainer"], model, optimizer, idx_to_name


def make_optimizer(params, run):
    """The app's optimizers (src/worker/optim.ts) in torch.optim, with the run's settings."""
    kind, lr, wd, momentum = run["optimizer"], run["lr"], run.get("weight_decay", 0), run.get("momentum", 0)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8, momentum=momentum, weight_decay=wd)
    raise CheckpointError(f"unknown optimizer {kind!r}")


def build_training_state(model_part, optim_part, run, device="cpu"):
    cfg = dict(model_part["model_config"])
    # The run's dropout, as the app builds its model from the run (a resume may change it).
    cfg["dropout"] = float(run.get("dropout", cfg.get("dropout", 0.0)))
    try:
        model = build_model(cfg)
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"the model part's model_config cannot be built: {e}") from None
    model.load_state_dict(model_part["state_dict"], strict=True)
    model.to(device)
    named = dict(model.named_parameters())
    idx_to_name = optim_part["param_idx_to_name"]
    group = optim_part["param_groups"][0]
    try:
        ordered = [named[idx_to_name[i]] for i in group["params"]]
    except KeyError as e:
        raise CheckpointError(f"the optimizer state names a parameter the model does not have: {e}") from None
    if len(ordered) != len(named):
        raise CheckpointError(f"the optimizer state covers {len(ordered)} of the model's {len(named)} parameters")
    optimizer = make_optimizer(ordered, run)
    optimizer.load_state_dict({"state": optim_part["state"], "param_groups": [dict(group)]})
    return model, optimizer, idx_to_name


# ---- writing checkpoints ----------------------------------------------------------------------

def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stage(folder, name, data):
    """Writes bytes to a hidden temporary file beside `name` (the app's import skips hidden files), on disk."""
    tmp = os.path.join(folder, f".{name}{TMP_MARK}{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _serialize(value):
    buf = io.BytesIO()
    torch.save(value, buf)
    return buf.getvalue()


def file_name(model_name, tag, part, info=None):
    return f"{model_name}{'_' + info if info else ''}_cp={tag}_{part}.th"


def write_checkpoint(folder, model_name, tags, ema_parts=None, ema_info=None):
    """Writes the parts under each tag: staged, flushed, then renamed model, optim, trainer (the commit).

    A tag being replaced loses its trainer part first, so a kill between renames leaves it incomplete
    (removed by the next start), never two saves' parts under one name.
    """
    os.makedirs(folder, exist_ok=True)
    written = []
    for tag, values in tags:
        if ema_parts is not None:
            # The EMA weights first, as the app saves them: a weights-only variant beside the checkpoint.
            name = file_name(model_name, tag, "model", ema_info)
            os.replace(_stage(folder, name, _serialize(ema_parts[tag])), os.path.join(folder, name))
            written.append(os.path.join(folder, name))
        staged = [(p, _stage(folder, file_name(model_name, tag, p), values[p])) for p in PARTS]
        old_trainer = os.path.join(folder, file_name(model_name, tag, "trainer"))
        if os.path.exists(old_trainer):
            os.remove(old_trainer)
            _fsync_dir(folder)
        for p, tmp in staged:
            final = os.path.join(folder, file_name(model_name, tag, p))
            os.replace(tmp, final)
            written.append(final)
        _fsync_dir(folder)
    return written


def complete_checkpoints(folder, model_name):
    """{tag: (counters, paths)} of the complete, consistent checkpoints in folder (weights-only variants aside)."""
    out = {}
    if not os.path.isdir(folder):
        return out
    for (_, tag), paths in scan(folder, model_name).items():
        if tag.startswith("best.") or any(p not in paths for p in PARTS):
            continue
        try:
            parts = read_parts(paths)
        except Exception:  # a damaged or mixed checkpoint is not one to continue from
            continue
        out[tag] = (counters_of(parts["trainer"]), paths)
    return out


def sweep(folder, model_name, ema_info=None):
    """Removes what a killed save left: temporary files, and tags missing parts or mixing saves."""
    if not os.path.isdir(folder):
        return []
    removed = []
    for f in os.listdir(folder):
        if f.startswith(".") and TMP_MARK in f and NAME_RE.match(f[1:f.index(TMP_MARK)]):
            os.remove(os.path.join(folder, f))
            removed.append(f)
    good = complete_checkpoints(folder, model_name)
    for (_, tag), paths in scan(folder, model_name).items():
        if tag.startswith("best.") or tag in good:
            continue
        for p in paths.values():
            os.remove(p)
            removed.append(os.path.basename(p))
    if ema_info:
        for (_, tag), paths in scan(folder, model_name, ema_info).items():
            if tag not in good:
                for p in paths.values():
                    os.remove(p)
                    removed.append(os.path.basename(p))
    if removed:
        _fsync_dir(folder)
    return removed


def prune(folder, model_name, keep, ema_info=None):
    """Keeps the newest `keep` periodic checkpoints (src/checkpoint/save-policy.ts checkpointsToDelete)."""
    if keep < 0:
        return
    periodic = []
    for (_, tag), paths in scan(folder, model_name).items():
        m = PERIODIC_RE.match(tag)
        if m:
            e, u, s = (int(g) for g in m.groups())
            periodic.append(((u, s, e), tag, paths))
    periodic.sort(reverse=True)
    for _, tag, paths in periodic[keep:]:
        # The trainer part first: a kill mid-prune leaves an incomplete tag, which the next start removes.
        for p in sorted(paths, key=lambda part: part != "trainer"):
            os.remove(paths[p])
        if ema_info:
            for extra in scan(folder, model_name, ema_info).get((model_name, tag), {}).values():
                os.remove(extra)
    _fsync_dir(folder)


# ---- processes --------------------------------------------------------------------------------

class Processes:
    """One process, or torchrun's: rank, world size, device, and the collectives the loop needs."""

    def __init__(self):
        self.distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
        self.owns_group = False
        self.rank, self.world, self.local_rank = 0, 1, 0
        self.device = torch.device("cpu")
        if not self.distributed:
            if torch.cuda.is_available():
                self.device = torch.device("cuda", 0)
            return
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        # One GPU per process, or none: every rank must choose the same backend, so a machine with
        # fewer GPUs than processes trains on its CPUs (NCCL refuses two ranks on one GPU).
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        cuda = torch.cuda.is_available() and torch.cuda.device_count() >= local_world
        if cuda:
            self.device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
            self.owns_group = True
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    @property
    def backend(self):
        return dist.get_backend() if self.distributed else ("cuda" if self.device.type == "cuda" else "cpu")

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def broadcast(self, obj):
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values):
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.distributed:
            dist.all_reduce(t)
        return t.tolist()

    def close(self):
        if self.owns_group:
            dist.destroy_process_group()


def rows_of(n, rank, world):
    """This rank's contiguous slice of n batch rows: sizes differ by at most one, the first ranks larger."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class StopFlag:
    """Ctrl-C or SIGTERM: finish the update, agree across ranks, checkpoint, exit. A second Ctrl-C interrupts."""

    def __init__(self):
        self.signal = None
        self.previous = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            self.previous[s] = signal.signal(s, self._handle)

    def _handle(self, signum, frame):
        if self.signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def restore(self):
        for s, h in self.previous.items():
            signal.signal(s, h)


# ---- the metrics log --------------------------------------------------------------------------

LOG_NAME = "metrics.jsonl"
LOG_KINDS = ("train", "val", "resume")


def _log_entries(text):
    """The valid entries of a log's text; torn or foreign lines are skipped (as the app's reader does)."""
    out = []
    for line in text.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and e.get("kind") in LOG_KINDS and isinstance(e.get("update"), int) and e["update"] >= 0:
            out.append(e)
    return out


def export_log_text(export, rel):
    """The export's log at `rel` (`<run>[/<stage>]/metrics.jsonl`) inside a zip or under a folder, or ''."""
    try:
        if os.path.isdir(export):
            for root, _dirs, files in os.walk(export):
                if LOG_NAME in files:
                    path = os.path.join(root, LOG_NAME)
                    if path.replace(os.sep, "/").endswith("/" + rel):
                        with open(path, encoding="utf-8", errors="replace") as f:
                            return f.read()
            return ""
        with zipfile.ZipFile(export) as z:
            for n in z.namelist():
                if n == rel or n.endswith("/" + rel):
                    return z.read(n).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile):
        pass
    return ""


class MetricsLog:
    """Rank 0's appender for the stage's metrics log: buffered, written with each checkpoint."""

    def __init__(self, path, updates_per_epoch):
        self.path, self.per_epoch, self.pending = path, max(1, updates_per_epoch), []

    def start(self, export_text, update, tag):
        """Seeds the log from the export the first time; cuts it back to `update` and marks the resume."""
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8", errors="replace") as f:
                entries = _log_entries(f.read())
        else:
            entries = _log_entries(export_text)
        kept = [e for e in entries if e["update"] <= update]
        dropped = sum(1 for e in entries if e["update"] > update and e["kind"] != "resume")
        kept.append({"kind": "resume", "update": update, "dropped": dropped, "from": tag, "time": self._now(), "backend": "pytorch"})
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + f".tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(e) + "\n" for e in kept))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @staticmethod
    def _now():
        return int(time.time() * 1000)

    def train(self, update, loss):
        self.pending.append({"kind": "train", "update": update, "epoch": round(update / self.per_epoch, 4),
                             "loss": loss if math.isfinite(loss) else None, "time": self._now(), "backend": "pytorch"})

    def val(self, update, metrics):
        self.pending.append({"kind": "val", "update": update, "epoch": round(update / self.per_epoch, 4),
                             "metrics": {k: float(v) for k, v in metrics.items()}, "time": self._now(), "backend": "pytorch"})

    def flush(self):
        if not self.pending:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(e) + "\n" for e in self.pending))
            f.flush()
            os.fsync(f.fileno())
        self.pending = []


# ---- the job ----------------------------------------------------------------------------------

def stage_folder(out, model_part):
    stage = model_part.get("stage_name")
    return os.path.join(out, model_part["run_id"], *([stage] if stage else []), "checkpoints")


def choose_start(args, log):
    """Rank 0: the export's checkpoint, or a newer complete one of the same run in --out (a rerun)."""
    export = find_parts(args.export, args.checkpoint)
    parts = read_parts(export)
    mp = parts["model"]
    name = mp.get("model_name") or mp["model_config"]["kind"]
    folder = stage_folder(args.out, mp)
    run = parts["trainer"]["config"]
    ema_info = f"ema_factor={run['ema']}" if run.get("ema", 0) > 0 else None
    removed = sweep(folder, name, ema_info)
    if removed:
        log(f"removed what a killed save left in {folder}: {', '.join(sorted(removed))}")
    exported_at = counters_of(mp)
    start, source, source_tag = parts, export, args.checkpoint
    best = exported_at
    for tag, (counters, paths) in complete_checkpoints(folder, name).items():
        if counters[1] > best[1]:
            best, source, source_tag = counters, paths, tag
    if source is not export:
        start = read_parts(source)
    ema = None
    if ema_info:
        found = scan(os.path.dirname(source["model"]), name, ema_info).get((name, source_tag), {})
        if "model" in found:
            ema = safe_load(found["model"])["state_dict"]
    return {"parts": start, "from": source["model"], "exported_update": exported_at[1], "name": name, "folder": folder, "ema": ema}


def run_job(args, procs):
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if procs.rank == 0 else (lambda msg: None)
    say = (lambda msg: print(msg, flush=True)) if procs.rank == 0 else (lambda msg: None)
    start = None
    if procs.rank == 0:
        try:
            start = choose_start(args, log)
        except (CheckpointError, OSError, KeyError, pickle.UnpicklingError, RuntimeError) as e:
            start = {"error": str(e) if isinstance(e, CheckpointError) else f"{type(e).__name__}: {e}"}
    start = procs.broadcast(start)
    if "error" in start:
        raise CheckpointError(start["error"])
    model_part, optim_part, trainer_part = (start["parts"][p] for p in PARTS)
    run = dict(trainer_part["config"])
    if args.epochs is not None:
        if args.epochs < run["epochs"]:
            raise CheckpointError(f"--epochs {args.epochs} would shorten the run's {run['epochs']} epochs")
        run["epochs"] = args.epochs
    policy = {
        "save_every": run.get("save_every", 0) if args.save_every is None else args.save_every,
        "save_every_samples": run.get("save_every_samples", 0),
        "save_every_epochs": run.get("save_every_epochs", 0),
        "save_at_epoch_end": bool(run.get("save_at_epoch_end", False)),
        "checkpoint_after": run.get("checkpoint_after", 0),
    }
    keep = run.get("keep_checkpoint", -1) if args.keep_checkpoint is None else args.keep_checkpoint
    eval_every = run.get("eval_every", 0) if args.eval_every is None else args.eval_every
    ema_factor = float(run.get("ema", 0) or 0)
    ema_info = f"ema_factor={run['ema']}" if ema_factor > 0 else None

    task = build_task(run, model_part["model_config"], args.project, args.data)
    model, optimizer, idx_to_name = build_training_state(model_part, optim_part, run, procs.device)
    core = model
    if procs.distributed:
        model = torch.nn.parallel.DistributedDataParallel(core, device_ids=[procs.local_rank] if procs.device.type == "cuda" else None)
    ema = None
    if ema_factor > 0:
        source = start["ema"] if start["ema"] is not None else core.state_dict()
        ema = OrderedDict((k, v.detach().clone().float().to(procs.device)) for k, v in source.items())

    size, batch = task.train_size, run["batch_size"]
    total_updates = math.ceil(size / batch) * run["epochs"]
    c = dict(trainer_part["training_iteration"])
    sampler = D.BatchSampler(size, run["seed"], c["epoch"], c["sample"] - c["epoch"] * size)
    rng = Rng(trainer_part["rng_state"])
    target = start["exported_update"] + args.steps
    log(f"continuing {start['name']} ({run['task']}) from {start['from']} at update {c['update']} on {procs.world} "
        f"process{'es' if procs.world > 1 else ''} ({procs.backend}), until update {target} or epoch {run['epochs']}")
    metrics_log = None
    if procs.rank == 0:
        stage = model_part.get("stage_name")
        rel = "/".join([model_part["run_id"], *([stage] if stage else []), LOG_NAME])
        metrics_log = MetricsLog(os.path.join(os.path.dirname(start["folder"]), LOG_NAME), math.ceil(size / batch))
        metrics_log.start(export_log_text(args.export, rel), c["update"], model_part.get("checkpoint_tag") or
                          f"E{c['epoch']}_U{c['update']}_S{c['sample']}")

    def evaluate():
        if procs.rank == 0:
            core.eval()
            metrics = task.evaluate(core)
            core.train()
            say(f"validation at update {c['update']}: " + " · ".join(f"{k} {v:.6f}" for k, v in metrics.items()))
            say("metrics " + json_line({"update": c["update"], **metrics}))
            metrics_log.val(c["update"], metrics)
        procs.barrier()

    def save(finished):
        if procs.rank == 0:
            write_save(args, start, model_part, optim_part, trainer_part, run, core, optimizer, idx_to_name, c, rng, sampler,
                       total_updates, keep, finished, ema, ema_info, say)
            metrics_log.flush()
        procs.barrier()

    stop = StopFlag()
    saved_at = first_update = c["update"]
    evaluated_at = None
    try:
        model.train()
        while c["epoch"] < run["epochs"] and c["update"] < target:
            indices, epoch_end = sampler.next(batch)
            lr = learning_rate_at(run, c["update"], total_updates)
            for g in optimizer.param_groups:
                g["lr"] = lr
            # The app draws each update's dropout seed here; the rank makes each process's masks its own.
            step_seed = rng.next_u32()
            torch.manual_seed(step_seed + (procs.rank << 32))
            x, y = task.batch("train", indices)
            count = task.loss_count(y)
            lo, hi = rows_of(len(indices), procs.rank, procs.world)
            weight = 1.0 if hi > lo else 0.0
            if hi <= lo:
                lo, hi = 0, 1  # a process without rows still takes part in the gradient average, adding zero
            part = task.loss_sum(model, x[lo:hi].to(procs.device), y[lo:hi].to(procs.device)) * weight
            optimizer.zero_grad(set_to_none=True)
            (part * (procs.world / count)).backward()
            optimizer.step()
            if ema is not None:
                with torch.no_grad():
                    for k, v in core.state_dict().items():
                        ema[k].mul_(ema_factor).add_(v.float(), alpha=1 - ema_factor)
            loss_sum, stops = procs.sum([float(part.detach()), 1.0 if stop.signal else 0.0])
            before = dict(c)
            c = {"epoch": c["epoch"] + (1 if epoch_end else 0), "update": c["update"] + 1, "sample": c["sample"] + len(indices)}
            log(f"update {c['update']} loss {loss_sum / count:.8g} lr {lr:.6g}")
            if metrics_log:
                metrics_log.train(c["update"], loss_sum / count)
            if not math.isfinite(loss_sum):
                raise CheckpointError(f"the loss became {loss_sum / count} at update {c['update']}: lower the learning rate")
            if epoch_end or (eval_every > 0 and c["update"] % eval_every == 0):
                evaluate()
                evaluated_at = c["update"]
            if periodic_due(policy, before, c, epoch_end):
                save(False)
                saved_at = c["update"]
            if stops:
                log("stopping on a signal: writing a checkpoint")
                break
        finished = c["epoch"] >= run["epochs"]
        if c["update"] != saved_at or (finished and c["update"] != first_update):
            save(finished)
        if evaluated_at != c["update"]:
            evaluate()
    finally:
        stop.restore()
        if metrics_log:
            metrics_log.flush()
    return c


def json_line(obj):
    return json.dumps(obj)


def write_save(args, start, model_part, optim_part, trainer_part, run, core, optimizer, idx_to_name, c, rng, sampler,
               total_updates, keep, finished, ema, ema_info, say):
    folder, name = start["folder"], start["name"]
    tag = f"E{c['epoch']}_U{c['update']}_S{c['sample']}"
    state_dict = OrderedDict((k, v.detach().float().cpu().contiguous().clone()) for k, v in core.state_dict().items())
    new_model = dict(model_part, state_dict=state_dict, checkpoint_tag=tag, training_iteration=dict(c))
    sd = optimizer.state_dict()
    state = {i: {k: (v.detach().cpu() if torch.is_tensor(v) else v) for k, v in s.items()} for i, s in sd["state"].items()}
    new_optim = {"state": state, "param_groups": sd["param_groups"], "param_idx_to_name": dict(idx_to_name),
                 "optimizer": optim_part.get("optimizer", run["optimizer"]), "training_iteration": dict(c)}
    trainer = dict(trainer_part)
    trainer["training_iteration"] = dict(c)
    trainer["lr_schedule"] = dict(trainer_part["lr_schedule"], position=c["update"], total_updates=total_updates)
    trainer["rng_state"] = rng.state()
    trainer["data_cursor"] = {"seed": run["seed"], "epoch": sampler.epoch, "index": sampler.index}
    trainer["config"] = dict(trainer_part["config"], epochs=run["epochs"])
    trainer["backend"] = "pytorch"
    model_bytes, optim_bytes, trainer_bytes = _serialize(new_model), _serialize(new_optim), _serialize(trainer)
    values = {"model": model_bytes, "optim": optim_bytes, "trainer": trainer_bytes}
    tags = [(tag, values), ("latest", values)]
    if finished:
        tags.append(("last", dict(values, model=_serialize(dict(new_model, checkpoint_tag="last")))))
    ema_parts = None
    if ema is not None:
        ema_sd = OrderedDict((k, v.detach().cpu().clone()) for k, v in ema.items())
        ema_parts = {t: dict(new_model, state_dict=ema_sd, checkpoint_tag=tag if t != "last" else "last") for t, _ in tags}
    written = write_checkpoint(folder, name, tags, ema_parts, ema_info)
    prune(folder, name, keep, ema_info)
    say(f"checkpoint {tag} written: {', '.join(os.path.basename(p) for p in written)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the README section 'Train on more machines'.")
    ap.add_argument("export", help="the exported .zip, or a folder holding the checkpoint's .th files")
    ap.add_argument("--steps", type=int, required=True, help="updates to train past the exported checkpoint (a rerun stops at the same update)")
    ap.add_argument("--out", required=True, help="output_dir: checkpoints go to OUT/<run_id>/<stage>/checkpoints/")
    ap.add_argument("--checkpoint", default="latest", help="the export's tag to continue from (default latest)")
    ap.add_argument("--data", nargs="+", metavar="FILE", help="your own .txt or .tsv (task text), or word lists for the names task")
    ap.add_argument("--save_every", type=int, help="a checkpoint every N updates (default: the run's save_every; 0: only at the end)")
    ap.add_argument("--keep_checkpoint", type=int, help="keep the newest K periodic checkpoints (default: the run's; -1: all)")
    ap.add_argument("--eval_every", type=int, help="validate every N updates (default: the run's eval_every; 0: at epoch ends)")
    ap.add_argument("--epochs", type=int, help="raise the run's number of epochs (the schedule's length follows, as in the app)")
    ap.add_argument("--project", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="the app's folder, whose node_modules and src/data/assets hold the built-in data (default: this checkout)")
    args = ap.parse_args(argv)
    if args.steps < 0:
        ap.error("--steps must be 0 or more")
    procs = Processes()
    try:
        run_job(args, procs)
    except (CheckpointError, D.DatasetError) as e:
        name = "DatasetError" if isinstance(e, D.DatasetError) else "CheckpointError"
        raise SystemExit(f"{name}: {e}") from None
    finally:
        procs.close()


if __name__ == "__main__":
    main()
