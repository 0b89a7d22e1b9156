// SGD (and SGD with momentum, PyTorch's convention) with L2 weight decay in one dispatch per
// parameter tensor, where the generic path launches two to five element-wise kernels. The
// formulas are engine::optim's:
//   plain:     w' = w − η (g + λw)
//   momentum:  v' = μv + g + λw;  w' = w − η v'
// With momentum off (hyper[3] = 0) `v` and `v_out` are not read or written (the caller binds
// placeholders). Outputs are fresh buffers, never the inputs. Every buffer read_write (cubecl's
// convention for source kernels).

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> w_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_out: array<f32>;
// [lr, weight_decay, momentum, with_velocity (0 or 1)]
@group(0) @binding(5) var<storage, read_write> hyper: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= arrayLength(&w_out) || i >= arrayLength(&w) || i >= arrayLength(&g)) {
        return;
    }
    let lr = hyper[0];
    let weight_decay = hyper[1];
    let step = g[i] + weight_decay * w[i];
    if (hyper[3] == 0.0) {
        w_out[i] = w[i] - step * lr;
        return;
    }
    if (i >= arrayLength(&v) || i >= arrayLength(&v_out)) {
        return;
    }
    let v_new = v[i] * hyper[2] + step;
    v_out[i] = v_new;
    w_out[i] = w[i] - v_new * lr;
}
