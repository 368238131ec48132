"""Writes the numpy-made golden files of internal/npy's tests (numpy 1.24)."""
import numpy as np

a = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5) / 3
np.save("numpy_3x4.npy", a)
np.save("numpy_1d.npy", np.array([1.5, -0.0, np.inf, 1e-45], dtype=np.float32))
np.save("numpy_0d.npy", np.float32(2.25))
np.save("numpy_empty.npy", np.zeros((0, 7), dtype=np.float32))
np.save("numpy_f64.npy", a.astype(np.float64))
np.save("numpy_be.npy", a.astype(">f4"))
np.save("numpy_fortran.npy", np.asfortranarray(a))
with open("numpy_v2.npy", "wb") as f:
    np.lib.format.write_array(f, a, version=(2, 0))
