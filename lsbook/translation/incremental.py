"""Next-token logits for step-by-step decoding, with or without a key/value cache.

Decoding one token at a time by re-running the whole decoder on the prefix costs O(t) decoder
passes per step (O(t²) per sentence). For lsbook's transformer (nn.TransformerDecoder layers), the
:class:`CachedSteps` decoder keeps each layer's self-attention keys and values and the cross-attention
keys and values of the source, and computes only the newest position — the same numbers as the full
pass (the decoder is causal and runs in eval mode, so no earlier position changes), in a fraction of
the time. Any other model with ``encode``/``decode``/``head`` gets :class:`RecomputeSteps`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lsbook.data.text import PAD_ID


class RecomputeSteps:
    """Logits of the last position from a full decoder pass over the prefix (any model).

    ``src`` [B, S] and ``memory`` [B, S, d] are per sentence; each sentence has ``group`` rows
    (hypotheses), rows b·group … b·group + group − 1.
    """

    def __init__(self, model, src: torch.Tensor, memory: torch.Tensor, group: int = 1):
        self.model = model
        self.src = src.repeat_interleave(group, dim=0)                          # [R, S]
        self.memory = memory.repeat_interleave(group, dim=0)                    # [R, S, d]

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [R, t] (BOS first) -> logits [R, V] for position t."""
        return self.model.head(self.model.decode(tokens, self.memory, self.src)[:, -1])

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep rows ``rows`` (each from its own sentence's group), in that order."""
        self.src, self.memory = self.src[rows], self.memory[rows]

    def keep(self, sentences: torch.Tensor, group: int) -> None:
        """Drop every sentence not in ``sentences`` (indices into the current ones) with its rows."""
        rows = (sentences[:, None] * group + torch.arange(group, device=sentences.device)).view(-1)
        self.reorder(rows)


def supports_cache(model) -> bool:
    """Whether ``model`` is lsbook's Seq2SeqTransformer built on nn.TransformerDecoder layers."""
    transformer = getattr(model, "transformer", None)
    decoder = getattr(transformer, "decoder", None)
    return (isinstance(decoder, nn.TransformerDecoder)
            and all(isinstance(layer, nn.TransformerDecoderLayer) for layer in decoder.layers)
            and all(layer.self_attn.batch_first and layer.self_attn._qkv_same_embed_dim
                    and layer.multihead_attn._qkv_same_embed_dim for layer in decoder.layers)
            and all(hasattr(model, name) for name in ("tgt_embedding", "positions", "head", "config")))


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[R, L, d] -> [R, h, L, d/h]."""
    rows, length, width = x.shape
    return x.view(rows, length, num_heads, width // num_heads).transpose(1, 2)


class CachedSteps:
    """Next-token logits of lsbook's transformer computed one position at a time (eval mode only).

    ``src`` [B, S] and ``memory`` [B, S, d] are per sentence; each sentence has ``group`` rows
    (beam hypotheses), which share the sentence's cross-attention keys and values.
    """

    def __init__(self, model, src: torch.Tensor, memory: torch.Tensor, group: int = 1):
        if model.training:
            raise RuntimeError("cached decoding needs the model in eval mode (dropout off)")
        self.model, self.group = model, group
        self.layers = list(model.transformer.decoder.layers)
        self.final_norm = model.transformer.decoder.norm
        self.scale = math.sqrt(model.config.d_model)
        self.attend = (src != PAD_ID)[:, None, None, :]                             # [B, 1, 1, S] True = attend
        self.self_keys: list[torch.Tensor | None] = [None] * len(self.layers)     # [R, h, t, dh] each
        self.self_values: list[torch.Tensor | None] = [None] * len(self.layers)
        self.memory_keys, self.memory_values = [], []                             # [B, h, S, dh] each
        for layer in self.layers:
            attention = layer.multihead_attn
            width = attention.embed_dim
            keys, values = F.linear(memory, attention.in_proj_weight[width:],
                                    attention.in_proj_bias[width:]).split(width, dim=-1)
            self.memory_keys.append(_heads(keys, attention.num_heads))
            self.memory_values.append(_heads(values, attention.num_heads))
        self.position = 0

    def _self_attention(self, index: int, layer: nn.TransformerDecoderLayer, x: torch.Tensor) -> torch.Tensor:
        attention = layer.self_attn
        q, k, v = F.linear(x, attention.in_proj_weight, attention.in_proj_bias).split(attention.embed_dim, dim=-1)
        k, v = _heads(k, attention.num_heads), _heads(v, attention.num_heads)     # [R, h, 1, dh]
        if self.self_keys[index] is not None:
            k = torch.cat([self.self_keys[index], k], dim=2)                      # [R, h, t, dh]
            v = torch.cat([self.self_values[index], v], dim=2)
        self.self_keys[index], self.self_values[index] = k, v
        out = F.scaled_dot_product_attention(_heads(q, attention.num_heads), k, v)  # earlier positions only
        return attention.out_proj(out.transpose(1, 2).reshape(x.shape))

    def _cross_attention(self, index: int, layer: nn.TransformerDecoderLayer, x: torch.Tensor) -> torch.Tensor:
        attention = layer.multihead_attn
        width, heads = attention.embed_dim, attention.num_heads
        rows = x.shape[0]
        q = F.linear(x, attention.in_proj_weight[:width], attention.in_proj_bias[:width])    # [R, 1, d]
        # the group's rows are the queries of their sentence: [B, h, group, dh]
        q = q.view(rows // self.group, self.group, heads, width // heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, self.memory_keys[index], self.memory_values[index],
                                             attn_mask=self.attend)                       # [B, h, group, dh]
        return attention.out_proj(out.transpose(1, 2).reshape(x.shape))

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [R, t] (BOS first; only the last one is new since the previous call) -> [R, V]."""
        if tokens.shape[1] != self.position + 1:
            raise RuntimeError(f"cached decoding expects one new token per call (prefix length "
                               f"{self.position + 1}), got a prefix of {tokens.shape[1]}")
        model = self.model
        x = model.tgt_embedding(tokens[:, -1:]) * self.scale + model.positions[self.position]  # [R, 1, d]
        for index, layer in enumerate(self.layers):
            ff = lambda y, layer=layer: layer.linear2(layer.activation(layer.linear1(y)))  # noqa: E731
            if layer.norm_first:
                x = x + self._self_attention(index, layer, layer.norm1(x))
                x = x + self._cross_attention(index, layer, layer.norm2(x))
                x = x + ff(layer.norm3(x))
            else:
                x = layer.norm1(x + self._self_attention(index, layer, x))
                x = layer.norm2(x + self._cross_attention(index, layer, x))
                x = layer.norm3(x + ff(x))
        if self.final_norm is not None:
            x = self.final_norm(x)
        self.position += 1
        return model.head(x[:, -1])

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep rows ``rows`` (each from its own sentence's group), in that order."""
        self.self_keys = [k[rows] for k in self.self_keys]
        self.self_values = [v[rows] for v in self.self_values]

    def keep(self, sentences: torch.Tensor, group: int) -> None:
        """Drop every sentence not in ``sentences`` (indices into the current ones) with its rows."""
        rows = (sentences[:, None] * group + torch.arange(group, device=sentences.device)).view(-1)
        self.reorder(rows)
        self.memory_keys = [k[sentences] for k in self.memory_keys]
        self.memory_values = [v[sentences] for v in self.memory_values]
        self.attend = self.attend[sentences]


def make_steps(model, src: torch.Tensor, memory: torch.Tensor, *, group: int = 1, cache: bool = True):
    """The fastest correct step decoder for ``model``: cached where supported, else recomputing.

    src [B, S], memory [B, S, d] per sentence, ``group`` hypotheses (rows) per sentence.
    """
    if cache and supports_cache(model) and not model.training:
        return CachedSteps(model, src, memory, group)
    return RecomputeSteps(model, src, memory, group)
