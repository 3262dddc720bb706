#!/usr/bin/env python3
"""Times torch._int_mm (int8 x int8 -> int32) and fp16 torch.matmul for M in {1,16,256,4096},
K = N = 4096, median of 30 after warm-up, with CUDA events; rotates over 3 weight sets so they
do not sit in L2. Prints CSV like KernelBench: op,M,K,N,median_ms,tops. Skips clearly without
torch or without a CUDA device."""
import sys

try:
    import torch
except ImportError:
    print("# torch not installed: skipping the torch baseline (pip install torch to compare)")
    sys.exit(0)
if not torch.cuda.is_available():
    print("# torch has no CUDA device: skipping the torch baseline")
    sys.exit(0)

K = N = 4096
SIZES = [int(s) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else [1, 16, 256, 4096]


def median_ms(fn, warmup=5, reps=30):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


print("# torch", torch.__version__, torch.cuda.get_device_name(0))
print("op,M,K,N,median_ms,tops")
w8 = [torch.randint(-127, 128, (K, N), dtype=torch.int8, device="cuda") for _ in range(3)]
w16 = [torch.randn(K, N, dtype=torch.float16, device="cuda") * 0.02 for _ in range(3)]
for M in SIZES:
    x8 = torch.randint(-127, 128, (M, K), dtype=torch.int8, device="cuda")
    x16 = torch.randn(M, K, dtype=torch.float16, device="cuda")
    for name, fn in (("torch._int_mm", lambda: [torch._int_mm(x8, w) for w in w8]),
                     ("torch.matmul fp16", lambda: [torch.matmul(x16, w) for w in w16])):
        try:
            ms = median_ms(fn) / 3
            print(f"{name},{M},{K},{N},{ms:.4f},{2 * M * N * K / (ms * 1e-3) / 1e12:.2f}")
        except RuntimeError as e:  # e.g. _int_mm shape limits on some versions
            print(f"# {name} M={M}: unsupported here: {str(e).splitlines()[0]}")
