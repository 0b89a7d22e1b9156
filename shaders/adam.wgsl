// Fused Adam update with decoupled weight decay: one dispatch per parameter tensor, where the
// generic path launches about a dozen elementwise kernels. The formula is engine::optim's:
//   m' = β₁m + (1−β₁)g;  v' = β₂v + (1−β₂)g²;  w' = w − η (m'/bc₁ / (√(v'/bc₂) + ε) + λw)
// with bc₁ = 1 − β₁ᵗ and bc₂ = 1 − β₂ᵗ computed on the host in f64.
//
// Outputs are fresh buffers, never the inputs: the tape and pending readouts may still hold the
// old weights. Bindings follow cubecl's convention for source kernels (every buffer read_write).

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> w_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> m_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> v_out: array<f32>;
// [lr, beta1, beta2, eps, weight_decay, bc1, bc2]
@group(0) @binding(7) var<storage, read_write> hyper: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= arrayLength(&w_out) || i >= arrayLength(&w) || i >= arrayLength(&g) || i >= arrayLength(&m) || i >= arrayLength(&v)) {
        return;
    }
    let lr = hyper[0];
    let beta1 = hyper[1];
    let beta2 = hyper[2];
    let eps = hyper[3];
    let weight_decay = hyper[4];
    let bc1 = hyper[5];
    let bc2 = hyper[6];
    let gi = g[i];
    let m_new = beta1 * m[i] + (1.0 - beta1) * gi;
    let v_new = beta2 * v[i] + (1.0 - beta2) * gi * gi;
    m_out[i] = m_new;
    v_out[i] = v_new;
    w_out[i] = w[i] - lr * ((m_new / bc1) / (sqrt(v_new / bc2) + eps) + weight_decay * w[i]);
}
