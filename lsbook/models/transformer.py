"""Encoder–decoder Transformer of PyTorch's "Language Translation with nn.Transformer" tutorial.

The replication (seed §2.2, ref. [19]) used that tutorial's Seq2SeqTransformer on Multi30k: token
embeddings scaled by √d_model, sinusoidal positions (Vaswani et al. 2017, Section 3.5), 3 encoder
and 3 decoder layers, d_model 512, 8 heads, feed-forward 512, dropout 0.1, Xavier-uniform init of
every matrix, and a linear output layer (here ``head``). Padding is masked in every attention that
reads the source or the target; the decoder's self-attention is causal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lsbook.errors import LsbookError
from lsbook.models.common import check_fraction, check_positive_int


@dataclass(frozen=True)
class TransformerConfig:
    num_classes: int               # V_tgt: target (German) vocabulary size; the head's outputs
    src_vocab: int = 0             # V_src: source (English) vocabulary size; required (> 1)
    d_model: int = 512             # embedding / model width (tutorial EMB_SIZE)
    nhead: int = 8                 # attention heads (tutorial NHEAD)
    num_encoder_layers: int = 3    # 3 instead of the original 6 (seed §2.2)
    num_decoder_layers: int = 3    # 3 instead of the original 6 (seed §2.2)
    dim_feedforward: int = 512     # 512 instead of the original 2048 (seed §2.2)
    dropout: float = 0.1           # nn.Transformer's default, as in the tutorial
    pad_id: int = 0                # padding token id (lsbook.data.text.PAD_ID), masked everywhere
    max_len: int = 5000            # longest sequence the positional table covers (tutorial: 5000)

    def __post_init__(self) -> None:
        check_positive_int(self.num_classes, "num_classes", minimum=2)
        check_positive_int(self.src_vocab, "src_vocab", minimum=2)
        for name in ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers",
                     "dim_feedforward", "max_len"):
            check_positive_int(getattr(self, name), name)
        if self.d_model % self.nhead:
            raise LsbookError(f"d_model ({self.d_model}) must be a multiple of nhead ({self.nhead})")
        if self.d_model % 2:
            raise LsbookError(f"d_model must be even for sinusoidal positions, got {self.d_model}")
        check_fraction(self.dropout, "dropout")
        check_positive_int(self.pad_id, "pad_id", minimum=0)
        if self.pad_id >= min(self.src_vocab, self.num_classes):
            raise LsbookError(f"pad_id ({self.pad_id}) must be a token id of both vocabularies")


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...)  -> [max_len, d_model]."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)            # [L, 1]
    inv_freq = torch.exp(-torch.arange(0, d_model, 2, dtype=torch.float32)
                         * (math.log(10000.0) / d_model))                         # [d/2]
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq)
    return table


class Seq2SeqTransformer(nn.Module):
    """forward(src [B,S], tgt_in [B,T]) -> logits [B,T,V]; tgt_in starts with BOS (teacher forcing)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.src_embedding = nn.Embedding(config.src_vocab, d)
        self.tgt_embedding = nn.Embedding(config.num_classes, d)
        self.register_buffer("positions", sinusoidal_positions(config.max_len, d), persistent=False)
        self.embedding_dropout = nn.Dropout(config.dropout)
        # nn.Transformer's own encoder, built here only to switch off the nested-tensor fast
        # path (a prototype API that warns, and zeroes padded positions in eval mode only)
        encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, config.nhead, config.dim_feedforward, config.dropout,
                                       batch_first=True),
            config.num_encoder_layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.transformer = nn.Transformer(
            d_model=d, nhead=config.nhead, custom_encoder=encoder,
            num_decoder_layers=config.num_decoder_layers, dim_feedforward=config.dim_feedforward,
            dropout=config.dropout, batch_first=True)
        self.head = nn.Linear(d, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform for every matrix (embeddings and head included), as the tutorial."""
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.config.max_len:
            raise LsbookError(f"sequence length {length} exceeds max_len {self.config.max_len}")
        x = embedding(tokens) * math.sqrt(self.config.d_model)        # [B, L, d]
        return self.embedding_dropout(x + self.positions[:length])

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """src [B, S] token ids -> memory [B, S, d]; padded source positions are not attended to."""
        return self.transformer.encoder(self._embed(self.src_embedding, src),
                                        src_key_padding_mask=src == self.config.pad_id)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """tgt_in [B, T], memory [B, S, d], src [B, S] (for its padding) -> hidden [B, T, d].

        The hidden state is what the head multiplies; scale logits, never this, by a temperature.
        """
        length = tgt_in.shape[1]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tgt_in.device),
                            diagonal=1)                                # True = may not attend
        return self.transformer.decoder(
            self._embed(self.tgt_embedding, tgt_in), memory, tgt_mask=causal,
            tgt_key_padding_mask=tgt_in == self.config.pad_id,
            memory_key_padding_mask=src == self.config.pad_id)

    def features(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Decoder output [B, T, d]: the penultimate activations of every target position."""
        return self.decode(tgt_in, self.encode(src), src)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(src, tgt_in))                  # [B, T, V_tgt] logits
