//! Generates the Kotlin and Swift bindings from the built core library (library mode), with the
//! workspace's own `uniffi-bindgen` and `uniffi-bindgen/uniffi.toml`, checks the exported surface is
//! there, and that the copies committed under `android/` and `ios/` are exactly what the current
//! library generates (refresh them with `scripts/gen-bindings.sh`).
//!
//! Needs the native library: `cargo build -p roadside-core` (scripts/test-all.sh does it first).

use std::path::{Path, PathBuf};
use std::process::Command;

fn native_library() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let name = format!(
        "{}roadside_core{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let candidates = [
        target.join("debug").join(&name),
        target.join("release").join(&name),
    ];
    candidates
        .iter()
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{name} not found under {}: run `cargo build -p roadside-core` first",
                target.display()
            )
        })
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn generate(language: &str, out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .args(["generate", "--library"])
        .arg(native_library())
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("uniffi.toml"))
        .args(["--language", language, "--no-format", "--out-dir"])
        .arg(out)
        .status()
        .expect("run uniffi-bindgen");
    assert!(status.success(), "uniffi-bindgen {language} failed");
}

fn read_all(dir: &Path, ext: &str) -> String {
    let mut text = String::new();
    for entry in walk(dir) {
        if entry.extension().and_then(|e| e.to_str()) == Some(ext) {
            text.push_str(&std::fs::read_to_string(&entry).expect("read generated file"));
        }
    }
    text
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn kotlin_bindings_expose_the_core() {
    let out = tempfile::tempdir().expect("temp dir");
    generate("kotlin", out.path());
    let kt = read_all(out.path(), "kt");
    for name in [
        "class RoadsideCore",
        "interface SecretProvider",
        "fun `createCase`",
        "fun `finalizeCase`",
        "fun `verifyLedger`",
        "class EvidenceRecorder",
        "open class RoadsideException : kotlin.Exception",
        "fun `code`(): kotlin.String",
        "enum class ErrorKind",
        "sealed class PlatformException",
        "data class InspectionRecord",
    ] {
        assert!(kt.contains(name), "Kotlin bindings lack {name}");
    }
}

#[test]
fn swift_bindings_expose_the_core() {
    let out = tempfile::tempdir().expect("temp dir");
    generate("swift", out.path());
    let swift = read_all(out.path(), "swift");
    for name in [
        "class RoadsideCore",
        "protocol SecretProvider",
        "func createCase(",
        "func verifyLedger(",
        "class RoadsideError: RoadsideErrorProtocol",
        "enum ErrorKind",
        "enum PlatformError",
        "struct InspectionRecord",
    ] {
        assert!(swift.contains(name), "Swift bindings lack {name}");
    }
    assert!(read_all(out.path(), "h").contains("uniffi_roadside_core_fn"));
}

/// The committed bindings equal a fresh generation from the current library.
fn assert_fresh(generated: &Path, committed: &Path) {
    let fresh = std::fs::read_to_string(generated)
        .unwrap_or_else(|e| panic!("read generated {}: {e}", generated.display()));
    let kept = std::fs::read_to_string(committed).unwrap_or_default();
    if fresh != kept {
        let line = fresh
            .lines()
            .zip(kept.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || fresh.lines().count().min(kept.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{} is stale (first difference at line {line}): the core's exported surface changed. \
             Refresh the committed bindings with `scripts/gen-bindings.sh` and commit them.",
            committed.display()
        );
    }
}

#[test]
fn committed_kotlin_bindings_are_fresh() {
    let out = tempfile::tempdir().expect("temp dir");
    generate("kotlin", out.path());
    assert_fresh(
        &out.path().join("uniffi/roadside_core/roadside_core.kt"),
        &workspace().join("android/shell/src/main/kotlin/uniffi/roadside_core/roadside_core.kt"),
    );
}

#[test]
fn committed_swift_bindings_are_fresh() {
    let out = tempfile::tempdir().expect("temp dir");
    generate("swift", out.path());
    let ios = workspace().join("ios");
    for (file, committed) in [
        (
            "roadside_core.swift",
            ios.join("Sources/RoadsideCore/roadside_core.swift"),
        ),
        (
            "roadside_coreFFI.h",
            ios.join("Generated/roadside_coreFFI.h"),
        ),
        (
            "roadside_coreFFI.modulemap",
            ios.join("Generated/roadside_coreFFI.modulemap"),
        ),
    ] {
        assert_fresh(&out.path().join(file), &committed);
    }
}
