//! Link options for aside's binaries.

use std::path::Path;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Relative relocations packed (DT_RELR): the loader reads a few kilobytes instead of ~0.5 MB
    // of relocation entries at every start, and each of many hosts maps that much less. Only
    // where a program linked so runs here (glibc ≥ 2.36 and binutils ≥ 2.38, or lld/mold): a
    // binary that needs DT_RELR from an older C library would not start at all.
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    if native
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && packed_relocations_run(Path::new(&out))
    {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether a C program linked with `-z pack-relative-relocs` builds and runs on this machine.
fn packed_relocations_run(out: &Path) -> bool {
    let source = out.join("relr_probe.c");
    let program = out.join("relr_probe");
    // Pointers to data are relative relocations in a position-independent executable.
    let c =
        "static int a, b, c;\nint *table[] = {&a, &b, &c};\nint main(void) { return *table[0]; }\n";
    if std::fs::write(&source, c).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let linked = Command::new(cc)
        .args(["-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(&program)
        .arg(&source)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    linked
        && Command::new(&program)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
