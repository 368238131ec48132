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
