//! `cargo run -p uniffi-bindgen -- generate --library <libroadside_core.so> --language kotlin --out-dir <dir>`
//!
//! Lives in the workspace so the generator is always the same uniffi version as the library
//! (a skew gives "contract version mismatch" at load time).
//!
//! Three changes to UniFFI's Kotlin output, made here so that every generation (the committed copy
//! and the staleness test's) gets them. None changes the wire format or the API; each removes a
//! per-call cost measured on the JVM (BENCHMARKS.md, issue 6):
//!
//! 1. The `RustCallStatus` each FFI call hands to Rust is reused per thread instead of allocated per
//!    call. UniFFI's template allocates a fresh JNA `Structure` (with a nested `RustBuffer`
//!    `Structure`, each with malloc'd memory and a cleaner) for every crossing: about 8 µs of a
//!    10 µs empty call, and a guidance call makes four crossings.
//! 2. and 3. A lifted `RustBuffer` is copied once into a heap array and strings are decoded straight
//!    from that array, instead of each string being copied out of native memory into its own
//!    temporary array first: decoding the ~5 KB `Guidance` went from about 20 µs to about 10 µs.
//!
//! Each patch applies only where its template text is found exactly once: a UniFFI upgrade that
//! changes a template fails generation loudly rather than silently dropping the patch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One replacement in the generated Kotlin; `original` must occur exactly once.
struct Patch {
    name: &'static str,
    original: &'static str,
    patched: &'static str,
}

const KOTLIN_PATCHES: &[Patch] = &[
    Patch {
        name: "per-thread RustCallStatus",
        // UniFFI 0.32's helper every Kotlin FFI call goes through.
        original: "\
private inline fun <U, E: kotlin.Exception> uniffiRustCallWithError(errorHandler: UniffiRustCallStatusErrorHandler<E>, callback: (UniffiRustCallStatus) -> U): U {
    var status = UniffiRustCallStatus()
    val return_value = callback(status)
    uniffiCheckCallStatus(errorHandler, status)
    return return_value
}
",
        // A status is lent to one call at a time: a call made while this thread's status is lent
        // out (Rust calling a Kotlin callback that calls Rust again) gets a fresh one, as before.
        // The status is cleared before it is lent again: Rust writes `code` and `error_buf` only on
        // failure, and an error buffer has by then been freed by the error's lift.
        patched: "\
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
",
    },
    Patch {
        name: "lift from a heap copy",
        original: "\
    fun liftFromRustBuffer(rbuf: RustBuffer.ByValue): KotlinType {
        val byteBuf = rbuf.asByteBuffer()!!
",
        patched: "\
    fun liftFromRustBuffer(rbuf: RustBuffer.ByValue): KotlinType {
        // Patched by roadside's uniffi-bindgen: one bulk copy out of native memory, then every
        // read (strings above all) works on a heap array.
        val native = rbuf.asByteBuffer()!!
        val byteBuf = ByteBuffer.wrap(ByteArray(native.remaining()).also { native.get(it) })
",
    },
    Patch {
        name: "strings decoded in place",
        original: "\
    override fun read(buf: ByteBuffer): String {
        val len = buf.getInt()
        val byteArr = ByteArray(len)
        buf.get(byteArr)
        return byteArr.toString(Charsets.UTF_8)
    }
",
        patched: "\
    override fun read(buf: ByteBuffer): String {
        val len = buf.getInt()
        // Patched by roadside's uniffi-bindgen: decode straight from a heap buffer's array.
        if (buf.hasArray()) {
            val start = buf.position()
            val text = String(buf.array(), buf.arrayOffset() + start, len, Charsets.UTF_8)
            buf.position(start + len)
            return text
        }
        val byteArr = ByteArray(len)
        buf.get(byteArr)
        return byteArr.toString(Charsets.UTF_8)
    }
",
    },
];

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
        let text = apply_patches(&text).map_err(|e| format!("{}: {e}", path.display()))?;
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

/// Applies every patch; each template's text must occur exactly once.
fn apply_patches(text: &str) -> Result<String, String> {
    let mut text = text.to_string();
    for p in KOTLIN_PATCHES {
        match text.matches(p.original).count() {
            1 => text = text.replacen(p.original, p.patched, 1),
            n => {
                return Err(format!(
                    "patch \"{}\": expected UniFFI's template exactly once, found it {n} times \
                     (UniFFI upgraded? update KOTLIN_PATCHES in uniffi-bindgen/src/main.rs)",
                    p.name
                ))
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_every_patch_once_and_refuses_anything_else() {
        let originals: String = KOTLIN_PATCHES.iter().map(|p| p.original).collect();
        let text = format!("header\n{originals}footer\n");
        let patched = apply_patches(&text).expect("patch");
        for p in KOTLIN_PATCHES {
            assert!(patched.contains(p.patched), "{}", p.name);
        }
        assert!(!patched.contains("var status = UniffiRustCallStatus()"));
        assert!(patched.starts_with("header\n") && patched.ends_with("footer\n"));
        // Already patched, a missing template or a doubled one: an error, never a silent no-op.
        assert!(apply_patches(&patched).is_err());
        assert!(apply_patches(&format!("{text}{}", KOTLIN_PATCHES[0].original)).is_err());
        assert!(apply_patches("header\n").is_err());
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
