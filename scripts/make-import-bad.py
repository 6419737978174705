#!/usr/bin/env python3
"""Writes the import corpus: test-data/import-good/ (one valid char-mlp checkpoint, written by
PyTorch in the app's layout) and test-data/import-bad/<case>/ (files the import must refuse,
each case a folder of what a user would pick), with expected.json naming each case's error.

    /usr/bin/python3 scripts/make-import-bad.py

Deterministic: run it again and the files are the same bytes.
"""
import io
import json
import os
import shutil
import struct
import sys
import zipfile
from collections import OrderedDict

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from models import CharMlp  # noqa: E402

GOOD = os.path.join(ROOT, "test-data", "import-good")
BAD = os.path.join(ROOT, "test-data", "import-bad")
TORCH_BAD = os.path.join(ROOT, "test-data", "torch-bad")
CHARS = ["."] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
CFG = {"kind": "char-mlp", "vocab_size": 27, "context": 3, "embed": 8, "hidden": 32, "vocabulary": {"chars": CHARS}}
RUN = "corpus-base"
COUNTERS = {"epoch": 0, "update": 10, "sample": 320}
NAME = "char-mlp_cp=E0_U10_S320"


def th_bytes(value):
    buf = io.BytesIO()
    torch.save(value, buf)
    return buf.getvalue()


def parts():
    torch.manual_seed(0)
    model = CharMlp(27, 3, 8, 32)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.randint(0, 27, (16, 3))
    y = torch.randint(0, 27, (16,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    names = [n for n, _ in model.named_parameters()]
    model_part = {
        "state_dict": OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items()),
        "checkpoint_tag": "E0_U10_S320",
        "training_iteration": dict(COUNTERS),
        "run_id": RUN,
        "stage_name": "train",
        "model_name": "char-mlp",
        "model_config": CFG,
    }
    sd = opt.state_dict()
    optim_part = {"state": sd["state"], "param_groups": sd["param_groups"], "param_idx_to_name": dict(enumerate(names)), "optimizer": "adam"}
    trainer_part = {
        "format_version": 1,
        "training_iteration": dict(COUNTERS),
        "lr_schedule": {"name": "constant", "base_lr": 0.01, "warmup": 0, "total_updates": 1000, "position": 10},
        "rng_state": [1, 2, 3, 4],
        "data_cursor": {"seed": 42, "epoch": 0, "index": 320},
        "callbacks": {},
        "config": {"task": "names", "model": "char-mlp", "context": 3, "embed": 8, "hidden": 32, "batch_size": 32, "backend": "wasm", "run_id": RUN},
        "backend": "pytorch",
    }
    return model_part, optim_part, trainer_part


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def stored_zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return buf.getvalue()


def main():
    for d in (GOOD, BAD):
        shutil.rmtree(d, ignore_errors=True)
    model_part, optim_part, trainer_part = parts()
    good = {p: th_bytes(v) for p, v in (("model", model_part), ("optim", optim_part), ("trainer", trainer_part))}
    for p, data in good.items():
        write(GOOD, f"{NAME}_{p}.th", data)

    expected = {}

    def case(name, error, files):
        for fname, data in files:
            write(os.path.join(BAD, name), fname, data)
        expected[name] = error

    m = f"{NAME}_model.th"
    case("empty", "CheckpointFormatError", [(m, b"")])
    case("truncated", "CheckpointFormatError", [(m, good["model"][: len(good["model"]) // 2])])
    case("not-a-zip", "CheckpointFormatError", [(m, b"This is a text file, not a PyTorch checkpoint.\n" * 4)])
    case("zip-export-not-a-zip", "CheckpointFormatError", [("export.zip", b"PK\x03\x04 but nothing after it")])
    case("zip-entry-outside-folder", "CheckpointFormatError", [("export.zip", stored_zip([(f"../{RUN}/train/checkpoints/{m}", good["model"])]))])
    # A zip bomb: the central directory declares a 2 GiB entry in a file of a few hundred bytes.
    bomb = bytearray(stored_zip([(f"{RUN}/train/checkpoints/{m}", b"x" * 64)]))
    cd = bomb.rfind(b"PK\x01\x02")
    struct.pack_into("<II", bomb, cd + 20, 0x7FFFFFF0, 0x7FFFFFF0)
    struct.pack_into("<II", bomb, 18, 0x7FFFFFF0, 0x7FFFFFF0)
    case("zip-bomb", "CheckpointFormatError", [("export.zip", bytes(bomb))])
    # Reused from the reader's corpus, under a checkpoint's name so only the contents are wrong.
    for src, name, error in (
        ("os_system.th", "pickle-os-system", "UnsafePickleError"),
        ("builtins_eval.th", "pickle-global-outside-allow-list", "UnsafePickleError"),
        ("tensor_larger_than_storage.th", "tensor-larger-than-storage", "CheckpointFormatError"),
        ("huge_declared_size.th", "th-huge-declared-size", "CheckpointFormatError"),
        ("flipped_byte.th", "th-flipped-byte-crc", "CheckpointCorruptError"),
    ):
        with open(os.path.join(TORCH_BAD, src), "rb") as f:
            case(name, error, [(m, f.read())])

    wrong = dict(model_part)
    wrong["state_dict"] = OrderedDict(model_part["state_dict"])
    wrong["state_dict"]["layers.0.weight"] = torch.zeros(32, 25)
    case("wrong-shapes", "ShapeMismatchError", [(m, th_bytes(wrong))])
    other = dict(model_part, model_name="resnet18")
    case("named-for-another-model", "CheckpointFormatError", [(m, th_bytes(other))])
    unknown = dict(model_part, model_config={"kind": "resnet18", "vocab_size": 1000, "depth": 18})
    case("unknown-model-kind", "CheckpointFormatError", [(m, th_bytes(unknown))])
    bad_optim = dict(optim_part, state={k: dict(v, exp_avg=torch.zeros(3)) for k, v in optim_part["state"].items()})
    case("optim-wrong-shape", "ShapeMismatchError", [(m, good["model"]), (f"{NAME}_optim.th", th_bytes(bad_optim))])
    later = dict(trainer_part, training_iteration={"epoch": 0, "update": 20, "sample": 640})
    case("parts-of-different-saves", "CheckpointFormatError", [(m, good["model"]), (f"{NAME}_trainer.th", th_bytes(later))])
    case("optim-without-model", "CheckpointFormatError", [(f"{NAME}_optim.th", good["optim"])])
    case("name-leading-zero", "CheckpointNameError", [("char-mlp_cp=E0_U010_S320_model.th", good["model"])])
    case("name-bad-part", "CheckpointNameError", [("char-mlp_cp=E0_U10_S320_weights.th", good["model"])])
    case("name-not-the-scheme", "CheckpointNameError", [("my checkpoint.th", good["model"])])
    case("name-two-cp", "CheckpointNameError", [("char-mlp_cp=latest_cp=last_model.th", good["model"])])
    # Parses (model "char", info "mlp") but the file holds char-mlp: a .th of another model.
    case("name-of-another-model", "CheckpointFormatError", [("char_mlp_cp=latest_model.th", good["model"])])
    case("run-id-with-path", "CheckpointNameError", [(m, th_bytes(dict(model_part, run_id="../../etc")))])
    case("not-a-checkpoint-file", "CheckpointNameError", [("notes.txt", b"hello\n")])
    case("tag-disagrees-with-counters", "CheckpointFormatError", [("char-mlp_cp=E9_U99_S999_model.th", good["model"])])

    with open(os.path.join(BAD, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(expected)} bad cases in {BAD}; a good checkpoint in {GOOD}")


if __name__ == "__main__":
    main()
