//! `cargo run -p uniffi-bindgen -- generate --library <libroadside_core.so> --language kotlin --out-dir <dir>`
//!
//! Lives in the workspace so the generator is always the same uniffi version as the library
//! (a skew gives "contract version mismatch" at load time).
//!
//! One change to UniFFI's Kotlin output, made here so that every generation (the committed copy
//! and the staleness test's) gets it: the `RustCallStatus` each FFI call hands to Rust is reused
//! per thread instead of allocated per call. UniFFI's template allocates a fresh JNA `Structure`
//! (with a nested `RustBuffer` `Structure`, each with malloc'd memory and a cleaner) for every
//! crossing; measured on the JVM that allocation is about 8 µs of a 10 µs empty call, and a
//! guidance call makes four crossings (BENCHMARKS.md, issue 6). The patch is applied only where
//! the template's text is found exactly; a UniFFI upgrade that changes it fails generation loudly
//! rather than silently dropping the patch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// UniFFI 0.32's helper every Kotlin FFI call goes through.
const KOTLIN_CALL_ORIGINAL: &str = "\
private inline fun <U, E: kotlin.Exception> uniffiRustCallWithError(errorHandler: UniffiRustCallStatusErrorHandler<E>, callback: (UniffiRustCallStatus) -> U): U {
    var status = UniffiRustCallStatus()
    val return_value = callback(status)
    uniffiCheckCallStatus(errorHandler, status)
    return return_value
}
";

/// The same helper with a per-thread status. A status is lent to one call at a time: a call made
/// while this thread's status is lent out (Rust calling a Kotlin callback that calls Rust again)
/// gets a fresh one, as before. The status is cleared before it is lent again: Rust writes `code`
/// and `error_buf` only on failure, and an error buffer has by then been freed by the error's lift.
const KOTLIN_CALL_PATCHED: &str = "\
// Patched by roadside's uniffi-bindgen (uniffi-bindgen/src/main.rs): one RustCallStatus per thread,
// reused, instead of a JNA Structure allocated for every call.
private val uniffiIdleCallStatus = ThreadLocal<UniffiRustCallStatus?>()

private inline fun <U, E: kotlin.Exception> uniffiRustCallWithError(errorHandler: UniffiRustCallStatusErrorHandler<E>, callback: (UniffiRustCallStatus) -> U): U {
    val idle = uniffiIdleCallStatus.get()
    val status = if (idle != null) {
        uniffiIdleCallStatus.set(null)
        idle
    } else {
        UniffiRustCallStatus()
    }
    try {
        val return_value = callback(status)
        uniffiCheckCallStatus(errorHandler, status)
        return return_value
    } finally {
        status.code = UNIFFI_CALL_SUCCESS
        status.error_buf.capacity = 0
        status.error_buf.len = 0
        status.error_buf.data = null
        uniffiIdleCallStatus.set(status)
    }
}
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    uniffi::uniffi_bindgen_main();
    if args.get(1).map(String::as_str) != Some("generate") {
        return ExitCode::SUCCESS;
    }
    let Some(out_dir) = flag_value(&args, &["--out-dir", "-o"]) else {
        return ExitCode::SUCCESS;
    };
    let language = flag_value(&args, &["--language", "-l"]);
    if language.is_some_and(|l| l != "kotlin") {
        return ExitCode::SUCCESS;
    }
    match patch_kotlin(Path::new(out_dir)) {
        Ok(0) if language.is_some() => {
            eprintln!("uniffi-bindgen: no Kotlin file generated under {out_dir} to patch");
            ExitCode::FAILURE
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uniffi-bindgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The value after the first of `names` (`--name value` or `--name=value`).
fn flag_value<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    for (i, a) in args.iter().enumerate() {
        for n in names {
            if a == n {
                return args.get(i + 1).map(String::as_str);
            }
            if let Some(v) = a.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
        }
    }
    None
}

/// Patches every generated `.kt` file under `dir`; returns how many were patched.
fn patch_kotlin(dir: &Path) -> Result<usize, String> {
    let mut patched = 0;
    for path in kotlin_files(dir)? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = patch_call_status(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        patched += 1;
    }
    Ok(patched)
}

fn kotlin_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            out.extend(kotlin_files(&path)?);
        } else if path.extension().and_then(|e| e.to_str()) == Some("kt") {
            out.push(path);
        }
    }
    Ok(out)
}

/// Replaces UniFFI's call helper with the per-thread-status one; the template's text must occur
/// exactly once.
fn patch_call_status(text: &str) -> Result<String, String> {
    match text.matches(KOTLIN_CALL_ORIGINAL).count() {
        1 => Ok(text.replacen(KOTLIN_CALL_ORIGINAL, KOTLIN_CALL_PATCHED, 1)),
        n => Err(format!(
            "expected UniFFI's uniffiRustCallWithError template exactly once, found it {n} times \
             (UniFFI upgraded? update KOTLIN_CALL_ORIGINAL in uniffi-bindgen/src/main.rs)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_the_template_once_and_refuses_anything_else() {
        let text = format!("header\n{KOTLIN_CALL_ORIGINAL}footer\n");
        let patched = patch_call_status(&text).expect("patch");
        assert!(patched.contains("uniffiIdleCallStatus.set(status)"));
        assert!(!patched.contains("var status = UniffiRustCallStatus()"));
        assert!(patched.starts_with("header\n") && patched.ends_with("footer\n"));
        // Already patched, or a changed template: an error, never a silent no-op.
        assert!(patch_call_status(&patched).is_err());
        assert!(patch_call_status(&format!("{text}{KOTLIN_CALL_ORIGINAL}")).is_err());
    }

    #[test]
    fn reads_flags_in_both_spellings() {
        let args: Vec<String> = ["x", "generate", "--language", "kotlin", "--out-dir=/tmp/o"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(flag_value(&args, &["--language", "-l"]), Some("kotlin"));
        assert_eq!(flag_value(&args, &["--out-dir", "-o"]), Some("/tmp/o"));
        assert_eq!(flag_value(&args, &["--config"]), None);
    }
}
