"""Writes the torch-written golden files of encoder/checkpoint's tests.

Run with torch (1.13 was used): python3 gen_torch_golden.py
torch_state.bin  : torch.save(path) of a state dict (zip prefix = file stem)
torch_buffer.bin : the same saved through a file object (zip prefix "archive")
torch_state.json : every float tensor as float32 values, for the test
"""
import io
import json
from collections import OrderedDict

import torch

torch.manual_seed(0)
lin = torch.nn.Linear(3, 2)
sd = lin.state_dict()  # an OrderedDict with _metadata (pickled with BUILD)
base = torch.arange(24, dtype=torch.float32) / 7
sd["shared_full"] = base.view(4, 6)
sd["offset_view"] = base[5:11].view(2, 3)  # storage offset 5, shares storage
sd["transposed"] = base.view(4, 6).t()  # non-contiguous view
sd["half"] = torch.tensor([1.0, -2.5, 65504, float("inf"), 6e-8, 1e-3, -0.0, 2.0**-24], dtype=torch.float16)
sd["half_offset"] = torch.arange(10, dtype=torch.float16)[3:7]
sd["bf16"] = torch.tensor([1.0, 3.140625, -1e30, float("-inf"), 1e-40], dtype=torch.bfloat16)
sd["scalar"] = torch.tensor(2.5)
sd["empty"] = torch.zeros(0, 3)
sd["param"] = torch.nn.Parameter(torch.tensor([[0.5, -0.25]]))
sd["embeddings.position_ids"] = torch.arange(5).unsqueeze(0)  # int64 buffer

torch.save(sd, "torch_state.bin")
buf = io.BytesIO()
torch.save(sd, buf)
with open("torch_buffer.bin", "wb") as f:
    f.write(buf.getvalue())

exp = OrderedDict()
for k, v in sd.items():
    if not v.is_floating_point():
        continue
    x = v.detach().float().contiguous()
    exp[k] = {
        "dtype": str(v.dtype).replace("torch.", ""),
        "shape": list(x.shape),
        "storage_offset": v.storage_offset(),
        "contiguous": v.is_contiguous(),
        "values": [repr(float(y)) for y in x.flatten().tolist()],
    }
with open("torch_state.json", "w") as f:
    json.dump(exp, f, indent=1)
print("torch", torch.__version__)


# Micro BERT checkpoints (vocab 8, hidden 4, 1 layer, 1 head) for LoadDir:
#   moco/   : a Contriever MoCo training state dict (encoder_q.*, encoder_k.*,
#             queue, queue_ptr; int64 position_ids buffers) saved by torch
#   hf_mlm/ : an HF BertForMaskedLM-style state dict ("bert." prefix, cls.*
#             head, TF-style LayerNorm gamma/beta names in the embeddings)
import os

cfg = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 4, "initializer_range": 0.02,
    "intermediate_size": 6, "layer_norm_eps": 1e-12, "max_position_embeddings": 5,
    "model_type": "bert", "num_attention_heads": 1, "num_hidden_layers": 1,
    "pad_token_id": 0, "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 8,
}
H, I, V, P, T = 4, 6, 8, 5, 2
shapes = OrderedDict([
    ("embeddings.word_embeddings.weight", (V, H)),
    ("embeddings.position_embeddings.weight", (P, H)),
    ("embeddings.token_type_embeddings.weight", (T, H)),
    ("embeddings.LayerNorm.weight", (H,)), ("embeddings.LayerNorm.bias", (H,)),
])
for part in ["query", "key", "value"]:
    shapes["encoder.layer.0.attention.self.%s.weight" % part] = (H, H)
    shapes["encoder.layer.0.attention.self.%s.bias" % part] = (H,)
shapes.update([
    ("encoder.layer.0.attention.output.dense.weight", (H, H)),
    ("encoder.layer.0.attention.output.dense.bias", (H,)),
    ("encoder.layer.0.attention.output.LayerNorm.weight", (H,)),
    ("encoder.layer.0.attention.output.LayerNorm.bias", (H,)),
    ("encoder.layer.0.intermediate.dense.weight", (I, H)),
    ("encoder.layer.0.intermediate.dense.bias", (I,)),
    ("encoder.layer.0.output.dense.weight", (H, I)),
    ("encoder.layer.0.output.dense.bias", (H,)),
    ("encoder.layer.0.output.LayerNorm.weight", (H,)),
    ("encoder.layer.0.output.LayerNorm.bias", (H,)),
    ("pooler.dense.weight", (H, H)), ("pooler.dense.bias", (H,)),
])
moco = OrderedDict()
moco["queue"] = torch.randn(H, 3)
moco["queue_ptr"] = torch.zeros(1, dtype=torch.long)
for enc in ["encoder_q.", "encoder_k."]:
    moco[enc + "embeddings.position_ids"] = torch.arange(P).unsqueeze(0)
    for k, s in shapes.items():
        moco[enc + k] = torch.randn(*s)
mlm = OrderedDict()
mlm["bert.embeddings.position_ids"] = torch.arange(P).unsqueeze(0)
for k, s in shapes.items():
    k = k.replace("embeddings.LayerNorm.weight", "embeddings.LayerNorm.gamma").replace(
        "embeddings.LayerNorm.bias", "embeddings.LayerNorm.beta")
    mlm["bert." + k] = torch.randn(*s).half()
mlm["cls.predictions.bias"] = torch.randn(V)
mlm["cls.predictions.transform.dense.weight"] = torch.randn(H, H)
for d, sd in [("moco", moco), ("hf_mlm", mlm)]:
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
