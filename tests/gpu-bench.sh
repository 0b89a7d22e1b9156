#!/bin/sh
# The native GPU race, run on a lent GPU machine (never in CI; see README "GPU numbers").
# Expects, carried beside the tree: .gl/ (the Vulkan/GL loader .debs), .dev/gradlab.xz (a stripped
# release build of this tree, xz-compressed to fit the carry limit) and .dev/mnist.idx.gz (./x data). Prints gradlab's playground bench
# (CPU and wgpu), MNIST training on wgpu, then PyTorch on the same nets (tests/python/torch_bench.py).
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
B=.dev/gradlab
[ -f $B ] || python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('$B.xz'), open('$B', 'wb'))"
chmod +x $B
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv
echo "== gradlab bench (playground net)"; timeout 90 $B bench --json
echo "== gradlab bench --ops (cnn-torch step, batch 100)"; timeout 90 $B bench --ops --json
echo "== gradlab bench --gan (one G+D step, batch 64)"; timeout 120 $B bench --gan --json
echo "== gradlab mlp-keras wgpu"; timeout 120 $B train --preset mlp-keras --backend wgpu --epochs 3 --json --data-dir .dev
echo "== gradlab cnn-torch wgpu"; timeout 120 $B train --preset cnn-torch --backend wgpu --epochs 2 --json --data-dir .dev
echo "== gradlab mlp-keras cpu ($(nproc) cores)"; timeout 45 $B train --preset mlp-keras --backend cpu --epochs 1 --json --data-dir .dev
echo "== pytorch"; PYTHONUNBUFFERED=1 timeout 120 python3 tests/python/torch_bench.py .dev/mnist.idx.gz 3
