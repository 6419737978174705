"""PyTorch twins of the app's built-in models.

Each module has the same parameter names and layouts as the app's model (src/models/*), so an
exported `_model.th` loads with `load_state_dict(state_dict, strict=True)`, and the forward pass
does the same arithmetic as the app's (see each class). `build_model(model_config)` rebuilds a
model from the `model_config` stored in a checkpoint's model part.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# The app adds this to the attention scores of masked positions (src/models/layers.ts MASKED).
MASKED = -1e9


class CharMlp(nn.Module):
    """src/models/char-mlp: embed `context` characters, Linear, tanh, Linear.

    The app embeds with one-hot x table (a matmul); that is the same lookup as nn.Embedding.
    """

    def __init__(self, vocab_size, context, embed, hidden):
        super().__init__()
        self.context, self.embed = context, embed
        self.embedding = nn.Embedding(vocab_size, embed)
        self.layers = nn.Sequential(nn.Linear(context * embed, hidden), nn.Tanh(), nn.Linear(hidden, vocab_size))

    def forward(self, x):  # x: [B, context] int64 -> [B, vocab]
        return self.layers(self.embedding(x).reshape(x.shape[0], self.context * self.embed))


class GptBlock(nn.Module):
    def __init__(self, n_embd, n_head, n_ffn, dropout):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(n_embd, 3 * n_embd)  # q, k, v stacked on the output axis
        self.attn.proj = nn.Linear(n_embd, n_embd)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Module()
        self.mlp.fc = nn.Linear(n_embd, n_ffn)
        self.mlp.proj = nn.Linear(n_ffn, n_embd)

    def forward(self, h, mask):
        q, k, v = self.attn.qkv(self.ln1(h)).chunk(3, dim=-1)
        att = attention(q, k, v, self.n_head, mask, self.dropout, self.training)
        h = h + F.dropout(self.attn.proj(att), self.dropout, self.training)
        f = F.gelu(self.mlp.fc(self.ln2(h)), approximate="tanh")
        return h + F.dropout(self.mlp.proj(f), self.dropout, self.training)


def attention(q, k, v, heads, bias, dropout, training):
    """The app's attention (layers.ts): scaled dot product, additive bias, softmax, dropout."""
    b, tq, c = q.shape
    tk = k.shape[1]
    d = c // heads
    split = lambda t, n: t.reshape(b, n, heads, d).transpose(1, 2)
    scores = split(q, tq) @ split(k, tk).transpose(-1, -2) / math.sqrt(d)
    if bias is not None:
        scores = scores + bias
    probs = F.dropout(torch.softmax(scores, dim=-1), dropout, training)
    return (probs @ split(v, tk)).transpose(1, 2).reshape(b, tq, c)


def causal_bias(t, device=None):
    return torch.triu(torch.full((t, t), MASKED, device=device), diagonal=1).reshape(1, 1, t, t)


class Gpt(nn.Module):
    """src/models/gpt: pre-LN decoder-only transformer, fused attn.qkv, GELU (tanh), tied or own head."""

    def __init__(self, vocab_size, block_size, n_embd, n_layer, n_head, n_ffn, tie_weights, dropout=0.0):
        super().__init__()
        self.block_size, self.tie_weights, self.dropout = block_size, tie_weights, dropout
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([GptBlock(n_embd, n_head, n_ffn, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        if not tie_weights:
            self.head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, x):  # [B, T] -> [B, T, vocab]
        t = x.shape[1]
        h = F.dropout(self.tok_emb(x) + self.pos_emb.weight[:t], self.dropout, self.training)
        mask = causal_bias(t, x.device)
        for block in self.blocks:
            h = block(h, mask)
        h = self.ln_f(h)
        return h @ self.tok_emb.weight.t() if self.tie_weights else self.head(h)


def sinusoidal_positions(t, c, device=None):
    pos = torch.arange(t, dtype=torch.float64, device=device).unsqueeze(1)
    i = torch.arange(0, c, 2, dtype=torch.float64, device=device)
    angle = pos / torch.pow(10000.0, i / c)
    out = torch.zeros(t, c, dtype=torch.float64, device=device)
    out[:, 0::2] = torch.sin(angle)
    out[:, 1::2] = torch.cos(angle)[:, : c // 2]
    return out.float()


class Seq2Seq(nn.Module):
    """src/models/seq2seq: nn.Transformer's encoder and decoder (pre-LN, ReLU), sinusoidal positions.

    Input as in the app: x = [src | tgt_in] packed on the time axis, `src_len` source columns, 0 = padding.
    """

    def __init__(self, src_vocab_size, vocab_size, d_model, n_head, d_ff, enc_layers, dec_layers, dropout=0.0, src_len=0):
        super().__init__()
        self.d_model, self.src_len, self.dropout = d_model, src_len, dropout
        self.src_emb = nn.Embedding(src_vocab_size, d_model)
        self.tgt_emb = nn.Embedding(vocab_size, d_model)
        enc = nn.TransformerEncoderLayer(d_model, n_head, d_ff, dropout, activation="relu", batch_first=True, norm_first=True)
        dec = nn.TransformerDecoderLayer(d_model, n_head, d_ff, dropout, activation="relu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc, enc_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, dec_layers, norm=nn.LayerNorm(d_model))
        self.generator = nn.Linear(d_model, vocab_size)

    def _embed(self, table, ids):
        x = table(ids) * math.sqrt(self.d_model) + sinusoidal_positions(ids.shape[1], self.d_model, ids.device)
        return F.dropout(x, self.dropout, self.training)

    def forward(self, x):
        src, tgt_in = x[:, : self.src_len], x[:, self.src_len :]
        return self.decode(self.encode(src), src, tgt_in)

    @staticmethod
    def _padding(src):
        # Float masks with the app's -1e9 (not -inf), so a fully padded row behaves as in the app.
        return torch.zeros(src.shape, device=src.device).masked_fill(src == 0, MASKED)

    def encode(self, src):
        """The encoder's output for source ids [B, S] (greedy decoding computes it once)."""
        return self.encoder(self._embed(self.src_emb, src), src_key_padding_mask=self._padding(src))

    def decode(self, memory, src, tgt_in):
        """Logits [B, T, vocab] for decoder inputs [B, T] over an encoded source."""
        causal = causal_bias(tgt_in.shape[1], tgt_in.device)[0, 0]
        h = self.decoder(self._embed(self.tgt_emb, tgt_in), memory, tgt_mask=causal, memory_key_padding_mask=self._padding(src))
        return self.generator(h)


class TextMlp(nn.Module):
    """src/models/text-mlp: Linear, ReLU, dropout (functional, no index), Linear over hashed n-grams."""

    def __init__(self, vocab_size, hidden, n_classes, dropout=0.0, **_):
        super().__init__()
        self.dropout = dropout
        self.layers = nn.Sequential(nn.Linear(vocab_size, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):  # [B, n_features] float -> [B, n_classes]
        h = F.dropout(torch.relu(self.layers[0](x)), self.dropout, self.training)
        return self.layers[2](h)


def build_model(cfg):
    """The twin for a checkpoint's `model_config` (a dict with `kind`)."""
    kind = cfg.get("kind")
    if kind == "char-mlp":
        return CharMlp(cfg["vocab_size"], cfg["context"], cfg["embed"], cfg["hidden"])
    if kind == "gpt":
        return Gpt(cfg["vocab_size"], cfg["block_size"], cfg["n_embd"], cfg["n_layer"], cfg["n_head"], cfg["n_ffn"],
                   bool(cfg["tie_weights"]), float(cfg.get("dropout", 0.0)))
    if kind == "seq2seq":
        return Seq2Seq(cfg["src_vocab_size"], cfg["vocab_size"], cfg["d_model"], cfg["n_head"], cfg["d_ff"],
                       cfg["enc_layers"], cfg["dec_layers"], float(cfg.get("dropout", 0.0)), cfg["src_len"])
    if kind == "text-mlp":
        return TextMlp(cfg["vocab_size"], cfg["hidden"], cfg["n_classes"], float(cfg.get("dropout", 0.0)))
    raise ValueError(f"unknown model kind {kind!r}: expected char-mlp, gpt, seq2seq or text-mlp")
