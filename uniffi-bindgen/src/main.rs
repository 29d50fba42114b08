//! `cargo run -p uniffi-bindgen -- generate --library <libroadside_core.so> --language kotlin --out-dir <dir>`
//!
//! Lives in the workspace so the generator is always the same uniffi version as the library
//! (a skew gives "contract version mismatch" at load time).
//!
//! Changes to UniFFI's Kotlin output, made here so that every generation (the committed copy and
//! the staleness test's) gets them. None changes the wire format or the API; each removes a per-call
//! cost measured on the JVM (BENCHMARKS.md):
//!
//! 1. Calls go through the library's FFI-buffer twins, and the status of the others is plain native
//!    memory (`ffibuffer.rs`, and the `UniffiFfiCall` helper below): JNA creates, writes or reads no
//!    `Structure` on the way into Rust or back. Each such passage cost microseconds and a native
//!    allocation with a cleaner, and a guidance call made four.
//! 2. A lowered buffer's length is set as a field, not through JNA's reflective `writeField`.
//! 3. A lifted `RustBuffer` is copied once into a heap array and strings are decoded straight from
//!    that array, instead of each string being copied out of native memory into its own temporary
//!    array first, which halves the decoding of the ~5 KB `Guidance` (BENCHMARKS.md).
//!
//! Each text patch applies only where its template text is found exactly once, and the rewrite of
//! `UniffiLib` refuses any declaration it does not understand: a UniFFI upgrade that changes the
//! templates fails generation loudly rather than silently dropping a change.

mod ffibuffer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use camino::Utf8PathBuf;
use clap::Parser;
use uniffi_bindgen::bindings::{GenerateOptions, TargetLanguage};

/// One replacement in the generated Kotlin; `original` must occur exactly once.
struct Patch {
    name: &'static str,
    original: &'static str,
    patched: &'static str,
}

const KOTLIN_PATCHES: &[Patch] = &[
    Patch {
        name: "calls through UniffiFfiCall",
        // UniFFI 0.32's helper every Kotlin FFI call goes through.
        original: "\
private inline fun <U, E: kotlin.Exception> uniffiRustCallWithError(errorHandler: UniffiRustCallStatusErrorHandler<E>, callback: (UniffiRustCallStatus) -> U): U {
    var status = UniffiRustCallStatus()
    val return_value = callback(status)
    uniffiCheckCallStatus(errorHandler, status)
    return return_value
}
",
        // The scratch a call writes its arguments into and reads its result and status from (see
        // ffibuffer.rs for the wrappers that use it). A thread keeps a free list of them: a call
        // made while another is under way on the same thread (an argument being lowered, Rust
        // calling a Kotlin callback that calls Rust again) takes the next one, so none is ever
        // shared by two calls, and none is allocated once the thread has called at that depth.
        patched: "\
// Patched by roadside's uniffi-bindgen (uniffi-bindgen/src/ffibuffer.rs): native scratch memory for
// one call at a time, in place of a JNA Structure for the status of every call.
internal class UniffiFfiCall {
    // FfiBufferElement arrays (8 bytes an element): a twin's arguments; its return value, then status.
    private val memory = com.sun.jna.Memory(8L * (UNIFFI_FFI_ARG_ELEMENTS + UNIFFI_FFI_RETURN_ELEMENTS + 3))
    val args: Pointer = memory.share(0)
    val ret: Pointer = memory.share(8L * UNIFFI_FFI_ARG_ELEMENTS)
    // What every RustBuffer this scratch hands out sits on instead of native memory of its own (a
    // malloc and a cleaner each, and the cleaner's lock was most of the calls' tail). Nothing reads
    // or writes it: the wrappers pass a RustBuffer's fields, JNA re-points a RustBuffer nested in a
    // struct into that struct before writing it, and no C function is handed one by value through
    // JNA (the generator refuses such a declaration).
    private val carrier: Pointer = memory.share(8L * (UNIFFI_FFI_ARG_ELEMENTS + UNIFFI_FFI_RETURN_ELEMENTS), 24)
    private val a = memory.getByteBuffer(0, 8L * UNIFFI_FFI_ARG_ELEMENTS).order(ByteOrder.nativeOrder())
    private val r = memory.getByteBuffer(8L * UNIFFI_FFI_ARG_ELEMENTS, 8L * UNIFFI_FFI_RETURN_ELEMENTS).order(ByteOrder.nativeOrder())
    // The RustCallStatus handed (as a pointer) to functions without a twin. Rust writes it only
    // on failure; it is read back and cleared only then (JNA's own layout, read reflectively).
    private val status = UniffiRustCallStatus().also { it.write() }
    val statusPointer: Pointer = status.pointer
    // The outcome of the call under way.
    private var code: Byte = UNIFFI_CALL_SUCCESS
    private var errorBuf: RustBuffer.ByValue? = null
    internal var next: UniffiFfiCall? = null

    fun putLong(i: Int, v: Long) { a.putLong(8 * i, v) }
    fun putInt(i: Int, v: Int) { a.putInt(8 * i, v) }
    fun putShort(i: Int, v: Short) { a.putShort(8 * i, v) }
    fun putByte(i: Int, v: Byte) { a.put(8 * i, v) }
    fun putFloat(i: Int, v: Float) { a.putFloat(8 * i, v) }
    fun putDouble(i: Int, v: Double) { a.putDouble(8 * i, v) }
    fun putPointer(i: Int, v: Pointer?) {
        if (Native.POINTER_SIZE == 8) a.putLong(8 * i, Pointer.nativeValue(v)) else a.putInt(8 * i, Pointer.nativeValue(v).toInt())
    }
    fun putRustBuffer(i: Int, v: RustBuffer.ByValue) { putLong(i, v.capacity); putLong(i + 1, v.len); putPointer(i + 2, v.data) }
    fun putForeignBytes(i: Int, v: ForeignBytes.ByValue) { putInt(i, v.len); putPointer(i + 1, v.data) }

    fun clearReturn(i: Int) { r.putLong(8 * i, 0L) }

    fun getLong(i: Int): Long = r.getLong(8 * i)
    fun getInt(i: Int): Int = r.getInt(8 * i)
    fun getShort(i: Int): Short = r.getShort(8 * i)
    fun getByte(i: Int): Byte = r.get(8 * i)
    fun getFloat(i: Int): Float = r.getFloat(8 * i)
    fun getDouble(i: Int): Double = r.getDouble(8 * i)
    fun getPointer(i: Int): Pointer? {
        val p = if (Native.POINTER_SIZE == 8) r.getLong(8 * i) else r.getInt(8 * i).toLong() and 0xFFFFFFFFL
        return if (p == 0L) null else Pointer(p)
    }
    fun getRustBuffer(i: Int): RustBuffer.ByValue {
        val buf = RustBuffer.ByValue(carrier, true)
        buf.capacity = getLong(i)
        buf.len = getLong(i + 1)
        buf.data = getPointer(i + 2)
        return buf
    }

    /** The status a twin wrote at element [i] of the return array. */
    fun statusFromReturn(i: Int) {
        val c = r.get(8 * i)
        if (c != UNIFFI_CALL_SUCCESS) {
            code = c
            errorBuf = getRustBuffer(i + 1)
        }
    }

    /** The status a function without a twin was handed in [statusPointer]. */
    fun statusFromPointer() {
        if (statusPointer.getByte(0) != UNIFFI_CALL_SUCCESS) {
            status.read()
            code = status.code
            errorBuf = RustBuffer.ByValue().also { it.setValue(status.error_buf) }
            status.code = UNIFFI_CALL_SUCCESS
            status.error_buf.capacity = 0
            status.error_buf.len = 0
            status.error_buf.data = null
            status.write()
        }
    }

    /** The failure the call reported, as UniFFI's status (then this scratch is clean again). */
    fun takeFailure(): UniffiRustCallStatus? {
        if (code == UNIFFI_CALL_SUCCESS) return null
        val failed = UniffiRustCallStatus()
        failed.code = code
        failed.error_buf = errorBuf ?: RustBuffer.ByValue()
        code = UNIFFI_CALL_SUCCESS
        errorBuf = null
        return failed
    }
}

private val uniffiIdleCalls = ThreadLocal<UniffiFfiCall?>()

private inline fun <U, E: kotlin.Exception> uniffiRustCallWithError(errorHandler: UniffiRustCallStatusErrorHandler<E>, callback: (UniffiFfiCall) -> U): U {
    val call = uniffiIdleCalls.get()?.also { uniffiIdleCalls.set(it.next); it.next = null } ?: UniffiFfiCall()
    try {
        val return_value = callback(call)
        call.takeFailure()?.let { uniffiCheckCallStatus(errorHandler, it) }
        return return_value
    } finally {
        call.takeFailure()
        call.next = uniffiIdleCalls.get()
        uniffiIdleCalls.set(call)
    }
}
",
    },
    Patch {
        name: "uniffiRustCall through UniffiFfiCall",
        original: "\
private inline fun <U> uniffiRustCall(callback: (UniffiRustCallStatus) -> U): U {
",
        patched: "\
private inline fun <U> uniffiRustCall(callback: (UniffiFfiCall) -> U): U {
",
    },
    Patch {
        name: "RustBuffer over given memory",
        // `RustBuffer()` (JNA allocating native memory) stays what JNA and the rest of the
        // bindings use; UniffiFfiCall passes its carrier memory.
        original: "open class RustBuffer : Structure() {\n",
        // Two parameters: JNA's Structure.newInstance(Class, Pointer) prefers a constructor
        // taking one Pointer, and must keep building its own RustBuffers as before.
        patched: "\
// Patched by roadside's uniffi-bindgen: a RustBuffer may sit on memory it is given (see
// UniffiFfiCall's carrier) instead of allocating its own.
open class RustBuffer : Structure {
    constructor() : super()
    constructor(carrier: Pointer, @Suppress(\"UNUSED_PARAMETER\") onCarrier: Boolean) : super(carrier)
",
    },
    Patch {
        name: "RustBuffer.ByValue over given memory",
        // Kotlin also generates the no-argument constructor JNA instantiates by reflection.
        original: "    class ByValue: RustBuffer(), Structure.ByValue\n",
        patched: "\
    class ByValue : RustBuffer, Structure.ByValue {
        constructor() : super()
        constructor(carrier: Pointer, onCarrier: Boolean) : super(carrier, onCarrier)
    }
",
    },
    Patch {
        name: "lowered length set without reflection",
        // JNA's writeField looks the field up by name and writes native memory nobody reads: the
        // wrappers pass the Kotlin fields.
        original: "            rbuf.writeField(\"len\", bbuf.position().toLong())\n",
        patched: "            rbuf.len = bbuf.position().toLong()\n",
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

/// The one command this generator has: UniFFI's `generate`, in library mode.
#[derive(Parser)]
#[command(name = "uniffi-bindgen", version, about)]
enum Cli {
    /// Generate Kotlin and/or Swift bindings from the compiled core library.
    Generate(GenerateArgs),
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Foreign language(s) to generate.
    #[arg(short, long, value_enum, required = true)]
    language: Vec<Language>,
    /// Directory to write the bindings into.
    #[arg(short, long)]
    out_dir: Utf8PathBuf,
    /// The binding configuration (`uniffi-bindgen/uniffi.toml`).
    #[arg(short, long)]
    config: Option<Utf8PathBuf>,
    /// Do not run the generated code through a formatter.
    #[arg(long)]
    no_format: bool,
    /// Accepted for compatibility with UniFFI's own command line: a library is the only source.
    #[arg(long)]
    library: bool,
    /// Only the bindings of this crate.
    #[arg(long = "crate")]
    crate_name: Option<String>,
    /// The compiled library (`libroadside_core.so` / `.dylib`).
    source: Utf8PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Language {
    Kotlin,
    Swift,
}

fn main() -> ExitCode {
    let Cli::Generate(args) = Cli::parse();
    match generate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uniffi-bindgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(args: &GenerateArgs) -> Result<(), String> {
    let languages = args
        .language
        .iter()
        .map(|l| match l {
            Language::Kotlin => TargetLanguage::Kotlin,
            Language::Swift => TargetLanguage::Swift,
        })
        .collect();
    uniffi_bindgen::bindings::generate(GenerateOptions {
        languages,
        source: args.source.clone(),
        out_dir: args.out_dir.clone(),
        config_override: args.config.clone(),
        format: !args.no_format,
        crate_filter: args.crate_name.clone(),
        metadata_no_deps: false,
    })
    .map_err(|e| format!("{e:#}"))?;
    if !args.language.contains(&Language::Kotlin) {
        return Ok(());
    }
    let symbols = ffibuffer::exported_symbols(args.source.as_std_path())?;
    match patch_kotlin(args.out_dir.as_std_path(), &symbols)? {
        0 => Err(format!(
            "no Kotlin file generated under {} to patch",
            args.out_dir
        )),
        _ => Ok(()),
    }
}

/// Patches every generated `.kt` file under `dir`; returns how many were patched. `symbols` are
/// the library's exported names, to find the FFI-buffer twins.
fn patch_kotlin(dir: &Path, symbols: &HashSet<String>) -> Result<usize, String> {
    let mut patched = 0;
    for path in kotlin_files(dir)? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = apply_patches(&text)
            .and_then(|t| ffibuffer::rewrite_uniffi_lib(&t, symbols))
            .map_err(|e| format!("{}: {e}", path.display()))?;
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
        assert!(!patched.contains("writeField"));
        assert!(patched.contains("RustBuffer.ByValue(carrier, true)"));
        assert!(patched.starts_with("header\n") && patched.ends_with("footer\n"));
        // Already patched, a missing template or a doubled one: an error, never a silent no-op.
        assert!(apply_patches(&patched).is_err());
        assert!(apply_patches(&format!("{text}{}", KOTLIN_PATCHES[0].original)).is_err());
        assert!(apply_patches("header\n").is_err());
    }
}
