"""The app's tasks in Python (src/tasks/*): the same examples, batches, losses and validation metrics.

`build_task(run, model_config, ...)` rebuilds the task a checkpoint was trained on, from the same
sources, with the checkpoint's vocabulary. A task gives
- `train_size`, and `batch(split, indices)`: the tensors `x` and `y` of those rows, as the app's
  `batch()` builds them;
- `loss_sum(model, x, y)` and `loss_count(y)`: the app's mean loss of a batch is their ratio, split
  so that a batch shared by several processes sums its parts before dividing by the whole batch's
  count (padding tokens count for nothing in seq2seq, as in the app);
- `evaluate(model)`: the app's validation metrics (`val/loss`, plus `val/accuracy` for spam and
  `val/word_accuracy`, `val/per` for seq2seq), over the same validation rows in the same batches.
"""
import math
import os
from array import array

import torch
import torch.nn.functional as F

import app_data as D

EVAL_BATCH_WINDOWS = 2048  # src/tasks/names-task.ts EVAL_BATCH
EVAL_BATCH = 256  # char-stream, seq2seq and classify tasks
MAX_VAL_WINDOWS = 2048
G2P_EVAL_CAP = 1000  # src/tasks/registry.ts


def _long(rows):
    return torch.tensor(rows, dtype=torch.long)


def _on(model, *tensors):
    """The tensors on the model's device (validation runs where the model is, a GPU or the CPU)."""
    device = next(model.parameters()).device
    return [t.to(device) for t in tensors]


def _cross_entropy_sum(logits, y, ignore_index=-100):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=ignore_index, reduction="sum")


class CharWindowTask:
    """src/tasks/names-task.ts with src/data/char-lm-dataset.ts: next character from `context` before it."""

    def __init__(self, words, run, chars):
        clean = [D.js_trim(w).lower() for w in words]
        unique = list(dict.fromkeys(w for w in clean if w))  # [...new Set(...)]: first-seen order
        self.chars, self.context = list(chars), run["context"]
        index = {c: i for i, c in enumerate(self.chars)}
        train, val = split_words(unique, run["val_fraction"], run["seed"])
        self.train = self._encode(train, index)
        self.val = self._encode(val, index)
        self.train_size = len(self.train[1])
        self.val_size = len(self.val[1])

    def _encode(self, words, index):
        xs, ys = [], []
        for w in words:
            window = [0] * self.context
            for c in list(w) + [None]:
                target = 0 if c is None else index.get(c)
                if target is None:
                    raise D.DatasetError(f"character {D.js_quote(c)} is not in the vocabulary")
                xs.append(window)
                ys.append(target)
                window = window[1:] + [target]
        return _long(xs).reshape(-1, self.context), _long(ys)

    def batch(self, split, indices):
        x, y = self.train if split == "train" else self.val
        idx = _long(indices)
        return x[idx], y[idx]

    def loss_sum(self, model, x, y):
        return _cross_entropy_sum(model(x), y)

    def loss_count(self, y):
        return y.numel()

    @torch.no_grad()
    def evaluate(self, model):
        total = 0.0
        for start in range(0, self.val_size, EVAL_BATCH_WINDOWS):
            idx = list(range(start, min(self.val_size, start + EVAL_BATCH_WINDOWS)))
            x, y = _on(model, *self.batch("val", idx))
            total += float(self.loss_sum(model, x, y))
        return {"val/loss": total / self.val_size, "val/perplexity": math.exp(total / self.val_size)}


def split_words(words, val_fraction, seed):
    """src/data/char-lm-dataset.ts splitWords."""
    shuffled = list(words)
    D.Rng.from_seed(seed, 0x5B17).shuffle(shuffled)
    n_val = max(1, D.js_round(len(shuffled) * val_fraction))
    return shuffled[n_val:], shuffled[:n_val]


class CharStreamTask:
    """src/tasks/char-stream-task.ts: windows of one character stream, for the GPT."""

    def __init__(self, train_text, val_text, chars, run):
        self.chars, self.t = list(chars), run["context"]
        index = {c: i for i, c in enumerate(self.chars)}
        self.train = _long([index.get(c, 0) for c in train_text])
        self.val = _long([index.get(c, 0) for c in val_text])
        for what, s in (("training", self.train), ("validation", self.val)):
            if s.numel() < self.t + 1:
                raise D.DatasetError(f"the {what} text has {s.numel()} characters, fewer than context + 1 ({self.t + 1}): "
                                     "use more text or a shorter context")
        windows = self.val.numel() - self.t
        n = min(MAX_VAL_WINDOWS, math.ceil(windows / self.t))
        self.val_starts = [0 if n == 1 else D.js_round(i * (windows - 1) / (n - 1)) for i in range(n)]
        self.train_size = self.train.numel() - self.t
        self.val_size = len(self.val_starts)

    @staticmethod
    def from_words(words, run, chars):
        clean = list(dict.fromkeys(w for w in (D.js_trim(w).lower() for w in words) if w))
        train, val = split_words(clean, run["val_fraction"], run["seed"])

        def stream(ws):
            return D.BOUNDARY + "".join(w + D.BOUNDARY for w in ws)

        return CharStreamTask(stream(train), stream(val), chars, run)

    @staticmethod
    def from_text(text, run, chars):
        n = len(text)
        cut = max(0, n - max(run["context"] + 1, D.js_round(n * run["val_fraction"])))
        return CharStreamTask(text[:cut], text[cut:], chars, run)

    def batch(self, split, indices):
        stream = self.train if split == "train" else self.val
        starts = indices if split == "train" else [self.val_starts[r] for r in indices]
        offsets = torch.arange(self.t)
        rows = _long(starts).reshape(-1, 1) + offsets
        return stream[rows], stream[rows + 1]

    def loss_sum(self, model, x, y):
        return _cross_entropy_sum(model(x), y)

    def loss_count(self, y):
        return y.numel()

    @torch.no_grad()
    def evaluate(self, model):
        total = 0.0
        for start in range(0, self.val_size, EVAL_BATCH):
            idx = list(range(start, min(self.val_size, start + EVAL_BATCH)))
            x, y = _on(model, *self.batch("val", idx))
            total += float(self.loss_sum(model, x, y)) / self.t  # each window's mean, summed over windows
        return {"val/loss": total / self.val_size, "val/perplexity": math.exp(total / self.val_size)}


class _TokenIndex(dict):
    """Token ids; a token outside the vocabulary is <unk> (src/data/seq-vocab.ts encodeTokens)."""

    def __missing__(self, token):
        return D.UNK_ID


class Seq2SeqTask:
    """src/tasks/seq2seq-task.ts: x = [source | <s> target] packed, y = target </s>, padded with 0."""

    def __init__(self, pairs, run, vocabulary, eval_cap=G2P_EVAL_CAP):
        train_idx, val_idx, _test = D.split_indices(len(pairs), run["val_fraction"], run["val_fraction"], run["seed"], eval_cap)
        train = [pairs[i] for i in train_idx]
        self.src_tokens, self.tgt_tokens = list(vocabulary["source"]), list(vocabulary["target"])
        self.src_index = _TokenIndex((t, i) for i, t in enumerate(self.src_tokens))
        self.tgt_index = _TokenIndex((t, i) for i, t in enumerate(self.tgt_tokens))
        # The app builds its vocabularies from the training rows: one of their tokens missing here
        # means other data than the run's, which this vocabulary cannot encode.
        for side, index, k in (("source", self.src_index, 0), ("target", self.tgt_index, 1)):
            missing = list(dict.fromkeys(t for p in train for t in p[k] if t not in index))
            if missing:
                shown = ", ".join(D.js_quote(t) for t in missing[:20]) + (", …" if len(missing) > 20 else "")
                raise D.DatasetError(f"the data's training rows have {len(missing)} {side} token{'s' if len(missing) != 1 else ''} "
                                     f"outside the checkpoint's vocabulary ({shown}): pass the data the run trained on")
        self.src_len = max([len(p[0]) for p in pairs] + [1])
        self.tgt_len = max([len(p[1]) for p in pairs] + [0]) + 1
        self.train = self._encode(train)
        self.val_pairs = [pairs[i] for i in val_idx]
        self.val = self._encode(self.val_pairs)
        self.train_size, self.val_size = len(train), len(self.val_pairs)

    def _encode(self, pairs):
        src_id, tgt_id = self.src_index.__getitem__, self.tgt_index.__getitem__
        src, tgt_in, tgt_out = array("q"), array("q"), array("q")
        for s, t in pairs:
            ids = list(map(tgt_id, t))
            pad = [D.PAD_ID] * (self.tgt_len - len(ids) - 1)
            src.extend(map(src_id, s))
            src.extend([D.PAD_ID] * (self.src_len - len(s)))
            tgt_in.append(D.BOS_ID)
            tgt_in.extend(ids)
            tgt_in.extend(pad)
            tgt_out.extend(ids)
            tgt_out.append(D.EOS_ID)
            tgt_out.extend(pad)

        def table(a, width):
            return torch.frombuffer(a, dtype=torch.int64).clone().reshape(-1, width) if a else torch.zeros(0, width, dtype=torch.long)

        return table(src, self.src_len), table(tgt_in, self.tgt_len), table(tgt_out, self.tgt_len)

    def batch(self, split, indices):
        src, tgt_in, tgt_out = self.train if split == "train" else self.val
        idx = _long(indices)
        return torch.cat([src[idx], tgt_in[idx]], 1), tgt_out[idx]

    def loss_sum(self, model, x, y):
        return _cross_entropy_sum(model(x), y, ignore_index=D.PAD_ID)

    def loss_count(self, y):
        return max(int((y != D.PAD_ID).sum()), 1)

    @torch.no_grad()
    def greedy(self, model, indices):
        """The app's greedy decoding: all rows at once, one token per step, tgt_len steps."""
        src, = _on(model, self.val[0][_long(indices)])
        memory = model.encode(src)
        ids = torch.full((len(indices), 1), D.BOS_ID, dtype=torch.long, device=src.device)
        for t in range(self.tgt_len):
            logits = model.decode(memory, src, ids)
            ids = torch.cat([ids, logits[:, t].argmax(-1, keepdim=True)], 1)
        out = []
        for row in ids[:, 1:].tolist():
            toks = []
            for i in row:
                if i == D.EOS_ID:
                    break
                if i in (D.PAD_ID, D.BOS_ID):
                    continue
                toks.append(self.tgt_tokens[i] if i < len(self.tgt_tokens) else D.UNK)
            out.append(toks)
        return out

    @torch.no_grad()
    def evaluate(self, model):
        total, tokens, correct, edits, ref_len = 0.0, 0, 0, 0, 0
        for start in range(0, self.val_size, EVAL_BATCH):
            idx = list(range(start, min(self.val_size, start + EVAL_BATCH)))
            x, y = _on(model, *self.batch("val", idx))
            n = int((y != D.PAD_ID).sum())
            total += float(self.loss_sum(model, x, y))
            tokens += n
            for i, hyp in zip(idx, self.greedy(model, idx)):
                ref = self.val_pairs[i][1]
                correct += hyp == list(ref)
                edits += edit_distance(hyp, ref)
                ref_len += len(ref)
        return {"val/loss": total / tokens, "val/word_accuracy": correct / self.val_size, "val/per": edits / ref_len if ref_len else 0.0,
                "val/wer": (self.val_size - correct) / self.val_size if self.val_size else 0.0}


def edit_distance(a, b):
    """src/data/edit-distance.ts: Levenshtein distance with unit costs."""
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        prev = cur
    return prev[len(b)]


class ClassifyTask:
    """src/tasks/classify-task.ts: hashed character n-grams, dense per batch."""

    def __init__(self, items, classes, run):
        self.classes, self.buckets = list(classes), run["hash_buckets"]
        train_idx, val_idx, _test = D.split_indices(len(items), run["val_fraction"], run["val_fraction"], run["seed"])

        def rows(idx):
            feats = D.hashed_ngrams([items[i][0] for i in idx], run["ngram_min"], run["ngram_max"], self.buckets)
            return feats, _long([items[i][1] for i in idx])

        self.train, self.val = rows(train_idx), rows(val_idx)
        self.train_size, self.val_size = len(train_idx), len(val_idx)

    def batch(self, split, indices):
        feats, labels = self.train if split == "train" else self.val
        x = torch.zeros(len(indices), self.buckets)
        for r, i in enumerate(indices):
            x[r, feats[i][0]] = feats[i][1]
        return x, labels[_long(indices)]

    def loss_sum(self, model, x, y):
        return _cross_entropy_sum(model(x), y)

    def loss_count(self, y):
        return y.numel()

    @torch.no_grad()
    def evaluate(self, model):
        loss, correct = 0.0, 0
        tp = fp = fn = 0  # of the second class (spam), as the app counts them
        binary = None
        for start in range(0, self.val_size, EVAL_BATCH):
            idx = list(range(start, min(self.val_size, start + EVAL_BATCH)))
            x, y = _on(model, *self.batch("val", idx))
            probs = torch.softmax(model(x), -1)
            binary = probs.shape[-1] == 2
            # The app takes -log(max(p, 1e-12)) of the float32 probability, in float64, row by row.
            picked = probs.gather(1, y.reshape(-1, 1)).reshape(-1).double().clamp_min(1e-12)
            for v in (-picked.log()).tolist():
                loss += v
            pred = probs.argmax(-1)
            correct += int((pred == y).sum())
            tp += int(((pred == 1) & (y == 1)).sum())
            fp += int(((pred == 1) & (y != 1)).sum())
            fn += int(((pred != 1) & (y == 1)).sum())
        out = {"val/loss": loss / self.val_size, "val/accuracy": correct / self.val_size}
        if binary:
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            out.update({"val/precision": precision, "val/recall": recall, "val/f1": f1})
        return out


def build_task(run, model_config, project, data_path=None):
    """The task of a run (src/tasks/registry.ts createTask), encoded with the checkpoint's vocabulary."""
    task, model = run.get("task"), model_config.get("kind")
    vocabulary = model_config.get("vocabulary") or {}
    unknown = run.get("unknown_chars", "refuse")
    if task == "names" or (task == "text" and model in ("char-mlp", "gpt")):
        chars = vocabulary.get("chars")
        if not isinstance(chars, list):
            raise D.DatasetError("the checkpoint's model_config has no character vocabulary")
        if task == "names":
            words = [w for p in data_path for w in D.read_lines_crlf(p) if D.js_trim(w)] if data_path else D.load_first_names(project)
            texts = D.adapt_to_vocab([D.js_trim(w).lower() for w in words], chars, unknown)
            if model == "gpt":
                return CharStreamTask.from_words(texts, run, chars)
            return CharWindowTask(texts, run, chars)
        text = D.read_user_text(_one_file(data_path, task))
        if model == "gpt":
            return CharStreamTask.from_text(D.adapt_to_vocab([text], chars, unknown)[0], run, chars)
        lines = D.adapt_to_vocab([D.js_trim(w).lower() for w in text.split("\n")], chars, unknown)
        return CharWindowTask(lines, run, chars)
    if task == "g2p" and model == "seq2seq":
        pairs = [(list(w), ph) for w, ph in D.load_cmudict(project)]
        return Seq2SeqTask(pairs, run, vocabulary)
    if task == "text" and model == "seq2seq":
        path = _one_file(data_path, task)
        tsv = D.parse_tsv(D.read_user_text(path), os.path.basename(path))
        src = D.tokenize_side([s for s, _ in tsv])
        tgt = D.tokenize_side([t for _, t in tsv])
        return Seq2SeqTask(list(zip(src, tgt)), run, vocabulary)
    if task == "spam" and model == "text-mlp":
        return ClassifyTask(D.load_spam(project), vocabulary.get("classes") or D.SPAM_CLASSES, run)
    raise D.DatasetError(f"the {task} task with the {model} model is not one the app trains")


def _one_file(data_path, task):
    if not data_path or len(data_path) != 1:
        raise D.DatasetError(f"the {task} task trains on your own file: pass it with --data FILE (the one the run trained on)")
    return data_path[0]
