"""The one training path: a plain-PyTorch loop (`loop`, `session`) wrapped by Ray Train V2 (`worker`, `ray_driver`).

`launcher.run_training` is what `arena train`, a submitted cluster job and every search trial call.
"""
