"""Writes the PyTorch fixtures the .th reader is tested against: test-data/torch/ (files real
PyTorch wrote, plus expected.json) and test-data/torch-bad/ (files every reader must refuse).

Run with Debian's Python, which has PyTorch (apt-get install -y python3-torch):
    /usr/bin/python3 scripts/make-torch-fixtures.py
The output is committed; tests never run this script. Nothing here ever loads a bad file.
"""
import io
import json
import os
import struct
import zipfile
from collections import OrderedDict

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test-data")
GOOD = os.path.join(ROOT, "torch")
BAD = os.path.join(ROOT, "torch-bad")
os.makedirs(GOOD, exist_ok=True)
os.makedirs(BAD, exist_ok=True)

torch.manual_seed(0)
expected = {}


def describe(obj):
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        return {"tensor": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                "sum": float(t.double().sum()), "first": float(t.reshape(-1)[0]) if t.numel() else None}
    if isinstance(obj, float):
        return {"float": obj}
    if isinstance(obj, tuple):
        return {"tuple": [describe(v) for v in obj]}
    if isinstance(obj, dict):
        return {"dict": [[k if isinstance(k, str) else {"int": k}, describe(v)] for k, v in obj.items()],
                "ordered": isinstance(obj, OrderedDict)}
    if isinstance(obj, list):
        return [describe(v) for v in obj]
    return obj


def save(name, obj):
    path = os.path.join(GOOD, name)
    torch.save(obj, path)
    assert torch.load(path) is not None
    expected[name] = describe(obj)


def train(opt_cls, **kw):
    torch.manual_seed(1)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    opt = opt_cls(mlp.parameters(), **kw)
    for _ in range(3):
        opt.zero_grad()
        mlp(torch.randn(16, 4)).pow(2).mean().backward()
        opt.step()
    return mlp, opt


mlp, adam = train(torch.optim.Adam, lr=1e-3)
save("mlp_model.th", mlp.state_dict())
save("mlp_optim.th", adam.state_dict())
_, sgd = train(torch.optim.SGD, lr=0.1, momentum=0.9)
save("sgd_momentum_optim.th", sgd.state_dict())
_, rms = train(torch.optim.RMSprop, lr=0.01)
save("rmsprop_optim.th", rms.state_dict())

save("mlp_cp=E1_U10_S320_model.th", {
    "state_dict": mlp.state_dict(), "checkpoint_tag": "E1_U10_S320",
    "training_iteration": {"epoch": 1, "update": 10, "sample": 320}, "run_id": "abc123",
    "model_config": {"kind": "mlp", "hidden": 8, "dropout": 0.1, "lr": 1.0, "names": ["a", "b"],
                     "betas": (0.9, 0.999), "none": None, "flag": True, "big": 2 ** 62, "neg": -7}})

save("dtypes.th", OrderedDict([
    ("f32", torch.randn(2, 3)), ("f16", torch.randn(5).half()), ("bf16", torch.randn(4).bfloat16()),
    ("f64", torch.randn(3).double()), ("i64", torch.arange(4) - 2), ("i64_big", torch.tensor([2 ** 60, -(2 ** 62)])),
    ("i32", torch.arange(3, dtype=torch.int32)), ("i16", torch.arange(-2, 3, dtype=torch.int16)),
    ("i8", torch.arange(-3, 2, dtype=torch.int8)), ("u8", torch.arange(6, dtype=torch.uint8)),
    ("bool", torch.tensor([True, False, True])), ("scalar", torch.tensor(3.5)),
    ("scalar_i64", torch.tensor(7)), ("empty", torch.zeros(0, 4)), ("empty_1d", torch.zeros(0))]))

# views: tied weights share one tensor; a transposed view is not contiguous; a slice has a storage
# offset; a column is strided; a second tensor object over the same storage (shared storage)
base = torch.randn(6, 4)
save("views.th", OrderedDict([
    ("tied_a", base), ("tied_b", base), ("transposed", base.t()), ("offset_slice", base[2:4]),
    ("column", base[:, 1]), ("same_storage", base.view(24)), ("cube_permuted", torch.randn(2, 3, 4).permute(2, 0, 1)),
    ("every_other", torch.arange(10, dtype=torch.float64)[::2])]))

with open(os.path.join(GOOD, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)

# ---------------------------------------------------------------------------------------------
# Bad files. Built from bytes; none is ever loaded here.

good_bytes = open(os.path.join(GOOD, "mlp_model.th"), "rb").read()
bad = {}  # name -> expected error name


def write_bad(name, data, error):
    with open(os.path.join(BAD, name), "wb") as f:
        f.write(data)
    bad[name] = error


def zip_of(entries, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compress)
    return buf.getvalue()


def good_entries():
    z = zipfile.ZipFile(io.BytesIO(good_bytes))
    return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def with_pickle(pkl):
    return zip_of([(n, pkl if n.endswith("data.pkl") else d) for n, d in good_entries()])


write_bad("empty.th", b"", "CheckpointFormatError")
write_bad("truncated.th", good_bytes[: len(good_bytes) // 2], "CheckpointFormatError")
write_bad("truncated_tail.th", good_bytes[:-10], "CheckpointFormatError")
write_bad("not_a_zip.th", b"hello, this is not a zip file at all\n" * 4, "CheckpointFormatError")
write_bad("legacy_pickle.th", b"\x80\x02}q\x00.", "CheckpointFormatError")
write_bad("no_data_pkl.th", zip_of([("archive/version", b"3\n"), ("archive/data/0", b"\0" * 8)]),
          "CheckpointFormatError")
write_bad("dotdot_name.th", zip_of([("archive/../evil/data.pkl", b"\x80\x02N."), ("archive/version", b"3\n")]),
          "CheckpointFormatError")
write_bad("absolute_name.th", zip_of([("/archive/data.pkl", b"\x80\x02N.")]), "CheckpointFormatError")
write_bad("deflated.th", zip_of(good_entries(), zipfile.ZIP_DEFLATED), "CheckpointFormatError")
write_bad("duplicate_name.th", zip_of([("archive/data.pkl", b"\x80\x02N."), ("archive/data.pkl", b"\x80\x02N.")]),
          "CheckpointFormatError")

# zip bomb shape: a central directory that declares a 4 GB-ish entry in a tiny file
zb = bytearray(zip_of([("archive/data.pkl", b"\x80\x02N."), ("archive/version", b"3\n")]))
cd = zb.rfind(b"PK\x01\x02", 0, len(zb))
cd = zb.find(b"PK\x01\x02")
struct.pack_into("<II", zb, cd + 20, 0xFFFFFFF0, 0xFFFFFFF0)
write_bad("huge_declared_size.th", bytes(zb), "CheckpointFormatError")

# a pickle that would call os.system: raw opcodes, written by hand
evil = b"\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00echo pwned!q\x01\x85q\x02Rq\x03."
write_bad("os_system.th", with_pickle(evil), "UnsafePickleError")
write_bad("builtins_eval.th", with_pickle(b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."),
          "UnsafePickleError")
write_bad("getattr_global.th", with_pickle(b"\x80\x02c__builtin__\ngetattr\n."), "UnsafePickleError")
# the same attack through STACK_GLOBAL (protocol 4)
write_bad("stack_global.th", with_pickle(b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R."), "UnsafePickleError")
# an opcode outside the allow-list (INST)
write_bad("inst_opcode.th", with_pickle(b"\x80\x02(ios\nsystem\n."), "UnsafePickleError")
# a storage class REDUCE'd as if it were a function
write_bad("reduce_storage.th", with_pickle(b"\x80\x02ctorch\nFloatStorage\n)R."), "UnsafePickleError")

# a tensor larger than its storage: data/0 holds 32 floats, claim shape (1000, 1000)
pkl = bytearray(zipfile.ZipFile(io.BytesIO(good_bytes)).read("mlp_model/data.pkl"))
i = pkl.find(b"K\x08K\x04\x86")  # 0.weight size (8, 4)
assert i > 0
pkl[i:i + 5] = b"M\xe8\x03M\xe8\x03\x86"
write_bad("tensor_larger_than_storage.th", with_pickle(bytes(pkl)), "CheckpointFormatError")
# a storage that claims more elements than its record holds
pkl2 = bytearray(zipfile.ZipFile(io.BytesIO(good_bytes)).read("mlp_model/data.pkl"))
j = pkl2.find(b"X\x03\x00\x00\x00cpu")
assert j > 0 and pkl2[j + 10] == ord("K")
pkl2[j + 10:j + 12] = b"J\x00\x00\x00\x10"
write_bad("storage_larger_than_record.th", with_pickle(bytes(pkl2)), "CheckpointFormatError")

# one flipped byte inside a tensor record: CRC mismatch
fb = bytearray(good_bytes)
z = zipfile.ZipFile(io.BytesIO(good_bytes))
info = z.getinfo("mlp_model/data/0")
lh = info.header_offset
nlen, elen = struct.unpack("<HH", fb[lh + 26:lh + 30])
fb[lh + 30 + nlen + elen + 3] ^= 0x10
write_bad("flipped_byte.th", bytes(fb), "CheckpointCorruptError")

# a BINUNICODE whose length field says 2 GB
write_bad("huge_string_length.th", with_pickle(b"\x80\x02X\xff\xff\xff\x7fabc."), "CheckpointFormatError")
# a memo index that was never stored, and a pickle that ends without STOP
write_bad("bad_memo.th", with_pickle(b"\x80\x02h\x05."), "CheckpointFormatError")
write_bad("no_stop.th", with_pickle(b"\x80\x02}q\x00"), "CheckpointFormatError")
# a list that contains itself
write_bad("cyclic.th", with_pickle(b"\x80\x02]q\x00h\x00a."), "CheckpointFormatError")
# a persistent id that is not a storage
write_bad("persid_not_storage.th", with_pickle(b"\x80\x02X\x03\x00\x00\x00abc\x85Q."), "UnsafePickleError")

with open(os.path.join(BAD, "expected.json"), "w") as f:
    json.dump(bad, f, indent=1, sort_keys=True)
print("wrote", len(expected), "good and", len(bad), "bad files")
