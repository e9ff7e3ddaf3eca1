// ANCHOR: build
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/counter.proto");
    let descriptors = protox::compile(["proto/counter.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
// ANCHOR_END: build
