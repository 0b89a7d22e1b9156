//! Every WGSL kernel parses and validates with naga (as wgpu would at pipeline creation), without a
//! GPU: the sources as engine::fused compiles them (some are a file with a shared piece appended),
//! and every file in shaders/ is part of at least one of them, so none goes unvalidated.

use gradlab::engine::fused::kernel_sources;

#[test]
fn every_shader_validates_with_naga() {
    let kernels = kernel_sources();
    for (name, source) in &kernels {
        let module = naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("shaders/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.trim().is_empty(), "{} is empty", path.display());
        assert!(kernels.iter().any(|(_, source)| source.contains(text.as_str())), "{} is in no kernel's source", path.display());
        files += 1;
    }
    assert!(files > 0, "no shader found in {}", dir.display());
}
