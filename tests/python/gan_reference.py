"""An independent reference for the essay's GAN (issue #12): the corrected loop of gradlab's
gan-essay preset written in JAX, to tell the net's own behaviour from gradlab's engine.

Same net (G 100-256-512-1024-3000-784, LeakyReLU 0.2, tanh, sigmoid; D 784-1024-512-256-1),
PyTorch's default initialisation (weights and biases uniform in ±1/√fan_in), Adam (β₁ 0.5 by
default, β₂ 0.999, ε 1e-8), batch 64, pixels in [0, 1]. D's half: BCE(D(x), 1) + BCE(D(G(z)), 0)
with G(z) detached; G's half on fresh z: BCE(D(G(z)), 1) = −log D(G(z)). `net=four` drops the
3000-wide tanh layer (the common four-layer MLP GAN), for contrast.

Every `every` steps it prints one JSON line (losses, mean D(x) and D(G(z)), and "spread": the
per-pixel standard deviation of G's output over a fixed batch of 64 z, averaged over pixels), saves
those 64 samples as OUT-STEP.npy and, for the essay's net, writes OUT-STEP.safetensors in gradlab's
names, so gradlab scores it the same way as its own runs:
`gradlab generate --preset gan-essay --weights OUT-STEP.safetensors --json`.

Never run by CI (JAX is not installed by ./x). To run it:
  python3 -m venv /tmp/jax && /tmp/jax/bin/pip install 'jax[cpu]' safetensors
  /tmp/jax/bin/python tests/python/gan_reference.py target/data/mnist.idx.gz steps=5000 out=/tmp/jx

usage: gan_reference.py BUNDLE [steps=N] [every=N] [lr=X] [glr=X] [b1=X] [seed=N] [net=essay|four] [out=PREFIX]
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import save_file

from bundle import read as read_bundle

LAYERS = {
    "essay": [(100, 256, "leaky"), (256, 512, "leaky"), (512, 1024, "leaky"), (1024, 3000, "tanh"), (3000, 784, "sigmoid")],
    "four": [(100, 256, "leaky"), (256, 512, "leaky"), (512, 1024, "leaky"), (1024, 784, "sigmoid")],
}
DISCRIMINATOR = [(784, 1024, "leaky"), (1024, 512, "leaky"), (512, 256, "leaky"), (256, 1, "none")]
ACTS = {"leaky": lambda v: jnp.where(v > 0, v, 0.2 * v), "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "none": lambda v: v}


def main():
    bundle, opts = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
    steps, every = int(opts.get("steps", 3000)), int(opts.get("every", 500))
    lr = float(opts.get("lr", 2e-4))
    glr, b1 = float(opts.get("glr", lr)), float(opts.get("b1", 0.5))
    net, out, batch = opts.get("net", "essay"), opts.get("out", "/tmp/gan-reference"), 64
    generator = LAYERS[net]
    images = read_bundle(bundle)[0].reshape(-1, 784).astype(np.float32) / 255.0
    rng = np.random.default_rng(int(opts.get("seed", 0)))

    def init(layers):
        params = []
        for fan_in, fan_out, _ in layers:
            bound = 1 / np.sqrt(fan_in)
            w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
            params.append((jnp.array(w), jnp.array(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))))
        return params

    def forward(params, layers, x):
        for (w, b), (_, _, act) in zip(params, layers):
            x = ACTS[act](x @ w.T + b)
        return x

    def bce_logits(logits, target):
        return jnp.mean(jnp.maximum(logits, 0) - logits * target + jnp.log1p(jnp.exp(-jnp.abs(logits))))

    def d_loss(d, g, x, z):
        fake = jax.lax.stop_gradient(forward(g, generator, z))
        real_logits, fake_logits = forward(d, DISCRIMINATOR, x), forward(d, DISCRIMINATOR, fake)
        means = (jnp.mean(jax.nn.sigmoid(real_logits)), jnp.mean(jax.nn.sigmoid(fake_logits)))
        return bce_logits(real_logits, 1.0) + bce_logits(fake_logits, 0.0), means

    def g_loss(g, d, z):
        return bce_logits(forward(d, DISCRIMINATOR, forward(g, generator, z)), 1.0)

    def adam(params, grads, state, t, rate):
        m = jax.tree.map(lambda a, g: b1 * a + (1 - b1) * g, state[0], grads)
        v = jax.tree.map(lambda a, g: 0.999 * a + 0.001 * g * g, state[1], grads)
        step = lambda p, a, c: p - rate * (a / (1 - b1**t)) / (jnp.sqrt(c / (1 - 0.999**t)) + 1e-8)
        return jax.tree.map(step, params, m, v), (m, v)

    @jax.jit
    def train_step(g, d, g_state, d_state, x, z_d, z_g, t):
        (ld, (dx, dgz)), grads = jax.value_and_grad(d_loss, has_aux=True)(d, g, x, z_d)
        d, d_state = adam(d, grads, d_state, t, lr)
        lg, grads = jax.value_and_grad(g_loss)(g, d, z_g)
        g, g_state = adam(g, grads, g_state, t, glr)
        return g, d, g_state, d_state, ld, lg, dx, dgz

    g, d = init(generator), init(DISCRIMINATOR)
    zeros = lambda p: (jax.tree.map(jnp.zeros_like, p), jax.tree.map(jnp.zeros_like, p))
    g_state, d_state = zeros(g), zeros(d)
    fixed_z = jnp.array(rng.standard_normal((64, 100)).astype(np.float32))
    order, at, started = rng.permutation(len(images)), 0, time.time()
    for t in range(1, steps + 1):
        if at + batch > len(images):
            order, at = rng.permutation(len(images)), 0
        x = jnp.array(images[order[at : at + batch]])
        at += batch
        z_d, z_g = (jnp.array(rng.standard_normal((batch, 100)).astype(np.float32)) for _ in range(2))
        g, d, g_state, d_state, ld, lg, dx, dgz = train_step(g, d, g_state, d_state, x, z_d, z_g, jnp.float32(t))
        if t % every and t != 1:
            continue
        samples = np.array(forward(g, generator, fixed_z))
        line = {"step": t, "d_loss": float(ld), "g_loss": float(lg), "d_real": float(dx), "d_fake": float(dgz)}
        line |= {"spread": round(float(samples.std(axis=0).mean()), 4), "seconds": round(time.time() - started, 1)}
        if t % every == 0:
            np.save(f"{out}-{t}.npy", samples)
        if t % every == 0 and net == "essay":
            named = {}
            for prefix, params in (("g", g), ("d", d)):
                for k, (w, b) in enumerate(params):
                    named[f"{prefix}.fc{k + 1}.weight"], named[f"{prefix}.fc{k + 1}.bias"] = np.array(w), np.array(b)
            save_file(named, f"{out}-{t}.safetensors")
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
