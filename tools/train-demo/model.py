# SPDX-License-Identifier: Apache-2.0
"""A Gemma 2 model in PyTorch, written from the formulas of DESIGN.md ("Gemma 2
numerics"), for training the demo model and as a second implementation to check
gemma2's forward pass against (export_logits.py).

    x = E[token] * sqrt(hidden)
    per layer l (LOCAL, sliding window, when kinds[l] = 1; Gemma 2: l even):
      h = rms(x, w_in);  q, k, v = h Wq', h Wk', h Wv'   (GQA: n_kv_heads heads of k, v)
      rope(q, k): pairs (i, i + d/2), angle pos * theta^(-2i/d)
      s = cap_a * tanh((q * qpas^-1/2) . k / cap_a); causal mask, and i - j < window
          on local layers; o = softmax(s) v
      x += rms(o Wo', w_post_attn)
      h = rms(x, w_pre_ffw);  x += rms((gelu_tanh(h Wg') * h Wu') Wd', w_post_ffw)
    logits = cap_f * tanh(rms(x, w_final) E' / cap_f)          E tied with the output
    rms(v, w) = v / sqrt(mean(v^2) + eps) * (1 + w)

The parameters carry the Hugging Face names and store norm weights as w (the forward
adds the 1), so state_dict() is the checkpoint. Every computation runs in the dtype of
the parameters: float32 for training, float64 for the reference logits.

Only what a demo needs: no KV cache (generation recomputes the whole sequence), no
dropout, no padding masks."""
import math

import torch
import torch.nn.functional as F

# The config.json keys of a Hugging Face Gemma 2 checkpoint this model reads, with the
# field names used here.
HF_KEYS = {
    "vocab_size": "vocab",
    "hidden_size": "hidden",
    "intermediate_size": "ffn",
    "num_hidden_layers": "layers",
    "num_attention_heads": "heads",
    "num_key_value_heads": "kv_heads",
    "head_dim": "head_dim",
    "max_position_embeddings": "context",
    "sliding_window": "window",
    "rms_norm_eps": "eps",
    "rope_theta": "rope_theta",
    "query_pre_attn_scalar": "query_pre_attn_scalar",
    "attn_logit_softcapping": "attn_softcap",
    "final_logit_softcapping": "final_softcap",
}


class Config:
    """Model sizes and constants. kinds[l] is 1 for a local (sliding-window) layer and
    0 for a global one; by default Gemma 2's alternation, local on even layers."""

    def __init__(self, vocab, hidden, ffn, layers, heads, kv_heads, head_dim, context, window,
                 eps=1e-6, rope_theta=10000.0, query_pre_attn_scalar=None, attn_softcap=50.0,
                 final_softcap=30.0, kinds=None):
        self.vocab, self.hidden, self.ffn, self.layers = vocab, hidden, ffn, layers
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.context, self.window, self.eps, self.rope_theta = context, window, eps, rope_theta
        self.query_pre_attn_scalar = query_pre_attn_scalar or head_dim
        self.attn_softcap, self.final_softcap = attn_softcap, final_softcap
        self.kinds = list(kinds) if kinds is not None else [1 - l % 2 for l in range(layers)]
        assert heads % kv_heads == 0 and head_dim % 2 == 0 and len(self.kinds) == layers

    def hf_config(self, bos_id, eos_id, pad_id):
        """The config.json of the checkpoint (the keys tests/data/tiny-a has)."""
        c = {hf: getattr(self, ours) for hf, ours in HF_KEYS.items()}
        c.update({
            "architectures": ["Gemma2ForCausalLM"],
            "model_type": "gemma2",
            "hidden_activation": "gelu_pytorch_tanh",
            "hidden_act": "gelu_pytorch_tanh",
            "attention_bias": False,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "bos_token_id": bos_id,
            "eos_token_id": eos_id,
            "pad_token_id": pad_id,
            "tie_word_embeddings": True,
            "use_cache": True,
            "cache_implementation": "hybrid",
            "torch_dtype": "float32",
        })
        # Our kinds are Gemma 2's alternation unless told otherwise; say so explicitly
        # only when they differ, as converters then need the list.
        if self.kinds != [1 - l % 2 for l in range(self.layers)]:
            c["layer_types"] = ["sliding_attention" if k else "full_attention" for k in self.kinds]
        return c


def rms_norm(x, w, eps):
    """x / sqrt(mean(x^2) + eps) * (1 + w) over the last dimension."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + w)


def rope_tables(cfg, n, dtype):
    """cos and sin [n, head_dim / 2] of the angles pos * theta^(-2i/d), computed in float64
    (as gemma2's g2_rope_angles does) and rounded once to dtype."""
    half = cfg.head_dim // 2
    inv = cfg.rope_theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / cfg.head_dim)
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


def rope(v, cos, sin):
    """Rotates the pairs (i, i + d/2) of v [..., T, d] by the angles of each position."""
    half = v.shape[-1] // 2
    a, b = v[..., :half], v[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def attention_mask(cfg, n, local):
    """[n, n] boolean, True where query i may attend to key j: j <= i, and on local layers
    also i - j < window."""
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    keep = j <= i
    if local:
        keep = keep & (i - j < cfg.window)
    return keep


def gelu_tanh(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): torch's fused kernel of exactly
    this formula (equal to the written-out form within 1 ulp), which trains faster."""
    return F.gelu(x, approximate="tanh")


class Layer(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H, d = cfg.hidden, cfg.head_dim
        lin = lambda o, i: torch.nn.Linear(i, o, bias=False)  # noqa: E731 weight [out, in]
        self.self_attn = torch.nn.Module()
        self.self_attn.q_proj = lin(cfg.heads * d, H)
        self.self_attn.k_proj = lin(cfg.kv_heads * d, H)
        self.self_attn.v_proj = lin(cfg.kv_heads * d, H)
        self.self_attn.o_proj = lin(H, cfg.heads * d)
        self.mlp = torch.nn.Module()
        self.mlp.gate_proj = lin(cfg.ffn, H)
        self.mlp.up_proj = lin(cfg.ffn, H)
        self.mlp.down_proj = lin(H, cfg.ffn)
        for name in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                     "post_feedforward_layernorm"):
            # a norm weight w = 0 scales by 1 + w = 1
            setattr(self, name, torch.nn.Parameter(torch.zeros(H)))


class Gemma2(torch.nn.Module):
    """The model. state_dict() keys are the Hugging Face ones minus the ".weight" of the
    norms (which are bare parameters here): see hf_state_dict()."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = torch.nn.Module()
        self.model.embed_tokens = torch.nn.Embedding(cfg.vocab, cfg.hidden)
        self.model.layers = torch.nn.ModuleList(Layer(cfg) for _ in range(cfg.layers))
        self.model.norm = torch.nn.Parameter(torch.zeros(cfg.hidden))
        # Matmul inputs pass through this before they are multiplied; identity except
        # when export_logits.py models gemma2's activation quantization.
        self.matmul_input = lambda x: x

    def init_weights(self, generator, std=0.02):
        """Normal(0, std) matrices, as Gemma's initializer_range; zero norm weights."""
        for name, p in self.named_parameters():
            with torch.no_grad():
                if p.dim() == 2:
                    p.normal_(0.0, std, generator=generator)
                else:
                    p.zero_()

    def forward(self, ids):
        """ids [B, T] (int64) → logits [B, T, vocab], in the parameters' dtype."""
        cfg, m = self.cfg, self.model
        B, T = ids.shape
        E = m.embed_tokens.weight
        dtype = E.dtype
        # sqrt(hidden) rounded to the compute dtype, as gemma2 rounds it to float32
        # (exact for the demo's hidden = 256).
        # F.embedding: its backward sums repeated tokens in a fixed order (E[ids] adds them
        # with atomics across threads, which makes training irreproducible).
        x = F.embedding(ids, E) * torch.tensor(math.sqrt(cfg.hidden), dtype=dtype)
        cos, sin = rope_tables(cfg, T, dtype)
        q_scale = torch.tensor(cfg.query_pre_attn_scalar ** -0.5, dtype=dtype)
        group, d = cfg.heads // cfg.kv_heads, cfg.head_dim
        masks = {k: attention_mask(cfg, T, k) for k in set(cfg.kinds)}
        for l, L in enumerate(m.layers):
            a = L.self_attn
            h = self.matmul_input(rms_norm(x, L.input_layernorm, cfg.eps))  # one quantization for q, k, v
            q = (h @ a.q_proj.weight.T).view(B, T, cfg.heads, d).transpose(1, 2)  # [B, heads, T, d]
            k = (h @ a.k_proj.weight.T).view(B, T, cfg.kv_heads, d).transpose(1, 2)
            v = (h @ a.v_proj.weight.T).view(B, T, cfg.kv_heads, d).transpose(1, 2)
            q = rope(q, cos, sin) * q_scale
            k = rope(k, cos, sin)
            # query head h reads kv head h // group
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
            s = q @ k.transpose(-1, -2)
            if cfg.attn_softcap > 0:
                s = cfg.attn_softcap * torch.tanh(s / cfg.attn_softcap)
            s = s.masked_fill(~masks[cfg.kinds[l]], float("-inf"))
            o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, cfg.heads * d)
            o = self.matmul_input(o) @ a.o_proj.weight.T
            x = x + rms_norm(o, L.post_attention_layernorm, cfg.eps)

            f = L.mlp
            h = self.matmul_input(rms_norm(x, L.pre_feedforward_layernorm, cfg.eps))  # one for gate, up
            g = gelu_tanh(h @ f.gate_proj.weight.T) * (h @ f.up_proj.weight.T)
            o = self.matmul_input(g) @ f.down_proj.weight.T
            x = x + rms_norm(o, L.post_feedforward_layernorm, cfg.eps)
        h = self.matmul_input(rms_norm(x, m.norm, cfg.eps))
        logits = h @ E.T
        if cfg.final_softcap > 0:
            logits = cfg.final_softcap * torch.tanh(logits / cfg.final_softcap)
        return logits

    def hf_state_dict(self):
        """{Hugging Face name: tensor}: norms get their ".weight" suffix; the output
        projection is the embedding (tied), so it is not listed twice."""
        out = {}
        for name, p in self.named_parameters():
            out[name if name.endswith(".weight") else name + ".weight"] = p.detach()
        return out

    def load_hf_state_dict(self, tensors):
        """Sets every parameter from {Hugging Face name: tensor}, all of them required."""
        params = dict(self.named_parameters())
        names = {(n if n.endswith(".weight") else n + ".weight"): n for n in params}
        assert sorted(names) == sorted(tensors), set(names) ^ set(tensors)
        with torch.no_grad():
            for hf, ours in names.items():
                t = torch.as_tensor(tensors[hf])
                assert tuple(t.shape) == tuple(params[ours].shape), hf
                params[ours].copy_(t.to(params[ours].dtype))


def loss_fn(logits, targets):
    """Mean cross-entropy of next-token prediction, in float32 or above."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
