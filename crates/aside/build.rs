//! Link options for aside's binaries.

fn main() {
    // Relative relocations packed (DT_RELR, glibc ≥ 2.36, binutils ≥ 2.38; an older linker or C
    // library leaves them as they were): the loader reads a few kilobytes instead of ~0.5 MB of
    // relocation entries at every start, and each of many hosts maps that much less.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
