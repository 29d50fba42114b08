//! Kotlin calls into the core without a JNA `Structure` on the way in or out.
//!
//! UniFFI 0.32's Kotlin declares each C function with JNA direct mapping, passing every
//! `RustBuffer` by value and the `RustCallStatus` by reference. JNA handles each of those through a
//! reflective `Structure` (created with its own native memory and cleaner, written before the call,
//! read after), and that, not Rust, was most of a call's cost and nearly all of its tail
//! (BENCHMARKS.md). The core is built with uniffi's `scaffolding-ffi-buffer-fns` feature,
//! so each exported function `X` also exists as `uniffi_ffibuffer_X(args, ret)`: its arguments read
//! from one array of 8-byte `FfiBufferElement`s, its return value and then its status written to
//! another (uniffi_core's `FfiSerialize`); the core adds the same for the four `RustBuffer` helpers
//! (`core/src/ffi/buffer.rs`).
//!
//! This pass rewrites the generated `internal object UniffiLib`: each `external fun` becomes a
//! Kotlin function of the same name taking a `UniffiFfiCall` (per-thread native scratch memory)
//! where it took the status, so not one call site changes. A function whose twin the library
//! exports writes its arguments into the scratch array, calls the twin with two pointers and reads
//! back the result and the status; any other function with a status gets the status as a plain
//! pointer into the scratch (read back only when Rust reports a failure); a function without a
//! status is passed through. The `external` declarations move to `internal object UniffiNative`.
//! Which twins exist is read from the library's own symbol table, so a twin is used exactly when
//! the library has one, and a library built without the feature fails generation.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

/// How a value of an FFI type sits in an `FfiBufferElement` array (uniffi_core's `FfiSerialize`).
struct Slot {
    /// Elements taken.
    size: usize,
    /// `UniffiFfiCall` method writing an argument of this type (`None`: cannot be an argument).
    put: Option<&'static str>,
    /// `UniffiFfiCall` method reading a return value of this type (`None`: cannot be returned).
    get: Option<&'static str>,
}

fn slot(kotlin_type: &str) -> Option<Slot> {
    let s = |size, put, get| Some(Slot { size, put, get });
    match kotlin_type {
        "Long" => s(1, Some("putLong"), Some("getLong")),
        "Int" => s(1, Some("putInt"), Some("getInt")),
        "Short" => s(1, Some("putShort"), Some("getShort")),
        "Byte" => s(1, Some("putByte"), Some("getByte")),
        "Float" => s(1, Some("putFloat"), Some("getFloat")),
        "Double" => s(1, Some("putDouble"), Some("getDouble")),
        "Pointer" | "Pointer?" => s(1, Some("putPointer"), Some("getPointer")),
        "RustBuffer.ByValue" => s(3, Some("putRustBuffer"), Some("getRustBuffer")),
        "ForeignBytes.ByValue" => s(2, Some("putForeignBytes"), None),
        "Unit" => s(0, None, None),
        _ => None,
    }
}

/// Elements of the status a twin writes after its return value.
const STATUS_ELEMENTS: usize = 4;

/// One `external fun` of `UniffiLib`, as UniFFI writes it: the declaration line, then `    ): RET`.
struct Declaration {
    name: String,
    /// `(name, type)` in order, without the status.
    params: Vec<(String, String)>,
    has_status: bool,
    ret: String,
}

fn parse_declaration(line: &str, next: &str) -> Result<Declaration, String> {
    let rest = line
        .trim_start()
        .strip_prefix("external fun ")
        .ok_or_else(|| format!("not an external fun: {line}"))?;
    let (name, params) = rest
        .split_once('(')
        .ok_or_else(|| format!("no parameter list: {line}"))?;
    let ret = next
        .trim()
        .strip_prefix("):")
        .ok_or_else(|| format!("expected `): RET` after {name}, found: {next}"))?
        .trim()
        .to_string();
    let mut out = Declaration {
        name: name.trim().to_string(),
        params: Vec::new(),
        has_status: false,
        ret,
    };
    for param in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (pname, ptype) = param
            .split_once(':')
            .ok_or_else(|| format!("{}: unreadable parameter `{param}`", out.name))?;
        let (pname, ptype) = (pname.trim(), ptype.trim());
        if pname == "uniffi_out_err" {
            if ptype != "UniffiRustCallStatus" {
                return Err(format!("{}: status of type {ptype}", out.name));
            }
            out.has_status = true;
        } else if out.has_status {
            return Err(format!("{}: parameter after the status", out.name));
        } else {
            out.params.push((pname.to_string(), ptype.to_string()));
        }
    }
    Ok(out)
}

/// What the rewrite produced, for the scratch sizes.
struct Rewritten {
    wrapper: String,
    native: String,
    args: usize,
    ret: usize,
}

fn rewrite(d: &Declaration, twins: &HashSet<String>) -> Result<Rewritten, String> {
    let mut params: Vec<String> = d.params.iter().map(|(n, t)| format!("{n}: {t}")).collect();
    let names: Vec<&str> = d.params.iter().map(|(n, _)| n.as_str()).collect();
    let native_params = params.join(", ");
    if d.has_status {
        params.push("uniffi_out_err: UniffiFfiCall".into());
    }
    let mut w = format!("    fun {}({}): {} {{\n", d.name, params.join(", "), d.ret);
    let twin = uniffi_meta::ffi_buffer_symbol_name(&d.name);
    let unit = d.ret == "Unit";
    // Only the twin-with-status path below passes a RustBuffer's fields; every other path hands
    // the arguments to JNA, which would write each one into its (shared, carrier) memory first.
    let by_value = d.params.iter().any(|(_, t)| t == "RustBuffer.ByValue");
    if by_value && !(d.has_status && twins.contains(&twin)) {
        return Err(format!(
            "{} takes a RustBuffer by value and would reach JNA with it (no FFI-buffer twin with a \
             status): the wrappers' RustBuffers have no native memory of their own, so JNA must \
             never be handed one (give it a twin, as core/src/ffi/buffer.rs does for the buffer \
             helpers, or teach this rewrite the twin it has)",
            d.name
        ));
    }
    if !d.has_status {
        let _ = writeln!(
            w,
            "        return UniffiNative.{}({})",
            d.name,
            names.join(", ")
        );
        w.push_str("    }\n");
        let native = format!("    external fun {}({native_params}): {}\n", d.name, d.ret);
        return Ok(Rewritten {
            wrapper: w,
            native,
            args: 0,
            ret: 0,
        });
    }
    if !twins.contains(&twin) {
        let mut args = names.clone();
        args.push("uniffi_out_err.statusPointer");
        let call = format!("UniffiNative.{}({})", d.name, args.join(", "));
        if unit {
            let _ = writeln!(w, "        {call}");
            w.push_str("        uniffi_out_err.statusFromPointer()\n    }\n");
        } else {
            let _ = writeln!(w, "        val uniffi_result = {call}");
            w.push_str(
                "        uniffi_out_err.statusFromPointer()\n        return uniffi_result\n    }\n",
            );
        }
        let sep = if native_params.is_empty() { "" } else { ", " };
        let native = format!(
            "    external fun {}({native_params}{sep}uniffi_out_err: Pointer): {}\n",
            d.name, d.ret
        );
        return Ok(Rewritten {
            wrapper: w,
            native,
            args: 0,
            ret: 0,
        });
    }
    let mut at = 0;
    for (pname, ptype) in &d.params {
        let put = slot(ptype)
            .and_then(|s| s.put.map(|p| (p, s.size)))
            .ok_or_else(|| {
                format!(
                    "{}: no FFI-buffer slot for an argument of type {ptype}",
                    d.name
                )
            })?;
        let _ = writeln!(w, "        uniffi_out_err.{}({at}, {pname})", put.0);
        at += put.1;
    }
    let ret = slot(&d.ret)
        .filter(|s| unit || s.get.is_some())
        .ok_or_else(|| {
            format!(
                "{}: no FFI-buffer slot for a return of type {}",
                d.name, d.ret
            )
        })?;
    if d.ret == "Int" {
        // UniFFI declares u8 and u16 returns as Int, and a twin writes only their 1 or 2 bytes:
        // the rest of the element must read as zero (what libffi's widening gives the plain call).
        w.push_str("        uniffi_out_err.clearReturn(0)\n");
    }
    let _ = writeln!(
        w,
        "        UniffiNative.{twin}(uniffi_out_err.args, uniffi_out_err.ret)"
    );
    let _ = writeln!(w, "        uniffi_out_err.statusFromReturn({})", ret.size);
    if let Some(get) = ret.get {
        let _ = writeln!(w, "        return uniffi_out_err.{get}(0)");
    }
    w.push_str("    }\n");
    let native =
        format!("    external fun {twin}(uniffi_args: Pointer, uniffi_return: Pointer): Unit\n");
    Ok(Rewritten {
        wrapper: w,
        native,
        args: at,
        ret: ret.size + STATUS_ELEMENTS,
    })
}

const UNIFFI_LIB_START: &str = "internal object UniffiLib {\n";
const REGISTER_PREFIX: &str = "        Native.register(UniffiLib::class.java, ";

/// Rewrites `UniffiLib` in a generated Kotlin file (see the module docs).
pub fn rewrite_uniffi_lib(text: &str, twins: &HashSet<String>) -> Result<String, String> {
    let start = match text.matches(UNIFFI_LIB_START).count() {
        1 => text.find(UNIFFI_LIB_START).unwrap_or_default(),
        n => {
            return Err(format!(
                "expected `{}` once, found it {n} times",
                UNIFFI_LIB_START.trim()
            ))
        }
    };
    let body_start = start + UNIFFI_LIB_START.len();
    let end = body_start
        + text[body_start..]
            .find("\n}\n")
            .ok_or("UniffiLib has no closing brace at the start of a line")?
        + 1;
    let body = &text[body_start..end];

    let mut kept = String::new();
    let mut wrappers = String::new();
    let mut natives = String::new();
    let mut register = None;
    let (mut args, mut ret) = (0, 0);
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim_start().starts_with("external fun ") {
            let next = lines.get(i + 1).copied().unwrap_or_default();
            let r = rewrite(&parse_declaration(line, next)?, twins)?;
            wrappers.push_str(&r.wrapper);
            natives.push_str(&r.native);
            args = args.max(r.args);
            ret = ret.max(r.ret);
            i += 2;
            continue;
        }
        if let Some(rest) = line.strip_prefix(REGISTER_PREFIX) {
            register = Some(rest.to_string());
            kept.push_str("        UniffiNative.ensureInitialized()\n");
        } else {
            kept.push_str(line);
        }
        i += 1;
    }
    let register = register.ok_or("UniffiLib's init does not call Native.register")?;
    if ret == 0 {
        return Err("no function of UniffiLib has an FFI-buffer twin in the library".into());
    }

    let mut out = String::with_capacity(text.len() + wrappers.len());
    out.push_str(&text[..body_start]);
    out.push_str(&kept);
    out.push_str(
        "    // Patched by roadside's uniffi-bindgen (uniffi-bindgen/src/ffibuffer.rs): Kotlin wrappers\n\
         \x20   // over UniffiNative, through each function's FFI-buffer twin where the library has one.\n",
    );
    out.push_str(&wrappers);
    out.push_str("}\n\n");
    let _ = write!(
        out,
        "// Patched by roadside's uniffi-bindgen: the C functions UniffiLib's wrappers call.\n\
         internal const val UNIFFI_FFI_ARG_ELEMENTS = {args}\n\
         internal const val UNIFFI_FFI_RETURN_ELEMENTS = {ret}\n\n\
         internal object UniffiNative {{\n    init {{\n        Native.register(UniffiNative::class.java, {register}    }}\n\n\
         \x20   internal fun ensureInitialized() = Unit\n{natives}}}\n"
    );
    out.push_str(&text[end + 2..]);
    Ok(out)
}

/// The names a shared library exports (ELF or Mach-O; Mach-O's leading `_` removed).
pub fn exported_symbols(library: &Path) -> Result<HashSet<String>, String> {
    use goblin::mach::{Mach, MachO, SingleArch};
    let bytes =
        std::fs::read(library).map_err(|e| format!("cannot read {}: {e}", library.display()))?;
    let unreadable =
        |e: goblin::error::Error| format!("cannot read symbols of {}: {e}", library.display());
    let macho = |m: &MachO| -> Result<HashSet<String>, String> {
        Ok(m.exports()
            .map_err(unreadable)?
            .into_iter()
            .map(|e| e.name.strip_prefix('_').unwrap_or(&e.name).to_string())
            .collect())
    };
    match goblin::Object::parse(&bytes).map_err(unreadable)? {
        goblin::Object::Elf(elf) => Ok(elf
            .dynsyms
            .iter()
            .filter(|s| s.st_shndx != goblin::elf::section_header::SHN_UNDEF as usize)
            .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
            .map(str::to_string)
            .collect()),
        goblin::Object::Mach(Mach::Binary(m)) => macho(&m),
        goblin::Object::Mach(Mach::Fat(fat)) => match fat.get(0).map_err(unreadable)? {
            SingleArch::MachO(m) => macho(&m),
            SingleArch::Archive(_) => Err(format!(
                "{}: a fat archive, not a library",
                library.display()
            )),
        },
        _ => Err(format!(
            "{}: not an ELF or Mach-O shared library (generate Kotlin from the host's cdylib)",
            library.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
header
internal object UniffiLib {
    init {
        Native.register(UniffiLib::class.java, findLibraryName(componentName = \"c\"))
        uniffiCallbackInterfaceX.register(this)
    }

    internal fun ensureInitialized() = Unit
    external fun uniffi_c_fn_clone_thing(`handle`: Long,uniffi_out_err: UniffiRustCallStatus, 
    ): Long
    external fun uniffi_c_fn_method_thing_guide(`ptr`: Long,`request`: RustBuffer.ByValue,uniffi_out_err: UniffiRustCallStatus, 
    ): RustBuffer.ByValue
    external fun uniffi_c_fn_func_ping(uniffi_out_err: UniffiRustCallStatus, 
    ): Unit
    external fun uniffi_c_fn_method_thing_small(`ptr`: Long,uniffi_out_err: UniffiRustCallStatus, 
    ): Int
    external fun uniffi_c_fn_init_callback_vtable_x(`vtable`: UniffiVTableCallbackInterfaceX,
    ): Unit
    external fun ffi_c_rustbuffer_free(`buf`: RustBuffer.ByValue,uniffi_out_err: UniffiRustCallStatus, 
    ): Unit

        
}

footer
";

    fn twins() -> HashSet<String> {
        [
            "uniffi_ffibuffer_c_fn_method_thing_guide",
            "uniffi_ffibuffer_c_fn_func_ping",
            "uniffi_ffibuffer_c_fn_method_thing_small",
            "uniffi_ffibuffer_ffi_c_rustbuffer_free",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn rewrites_each_kind_of_declaration() {
        let out = rewrite_uniffi_lib(SAMPLE, &twins()).expect("rewrite");
        // A twin: arguments at their element offsets, the status after the 3-element return.
        assert!(out.contains(
            "    fun uniffi_c_fn_method_thing_guide(`ptr`: Long, `request`: RustBuffer.ByValue, uniffi_out_err: UniffiFfiCall): RustBuffer.ByValue {\n\
             \x20       uniffi_out_err.putLong(0, `ptr`)\n\
             \x20       uniffi_out_err.putRustBuffer(1, `request`)\n\
             \x20       UniffiNative.uniffi_ffibuffer_c_fn_method_thing_guide(uniffi_out_err.args, uniffi_out_err.ret)\n\
             \x20       uniffi_out_err.statusFromReturn(3)\n\
             \x20       return uniffi_out_err.getRustBuffer(0)\n    }\n"
        ));
        assert!(out.contains("    external fun uniffi_ffibuffer_c_fn_method_thing_guide(uniffi_args: Pointer, uniffi_return: Pointer): Unit\n"));
        // No twin: the status as a pointer.
        assert!(out.contains("        val uniffi_result = UniffiNative.uniffi_c_fn_clone_thing(`handle`, uniffi_out_err.statusPointer)\n"));
        assert!(out.contains("    external fun uniffi_c_fn_clone_thing(`handle`: Long, uniffi_out_err: Pointer): Long\n"));
        assert!(out.contains("    external fun uniffi_ffibuffer_ffi_c_rustbuffer_free(uniffi_args: Pointer, uniffi_return: Pointer): Unit\n"));
        // No status: passed through.
        assert!(out.contains(
            "        return UniffiNative.uniffi_c_fn_init_callback_vtable_x(`vtable`)\n"
        ));
        // A twin without arguments returning Unit.
        assert!(out.contains("        UniffiNative.uniffi_ffibuffer_c_fn_func_ping(uniffi_out_err.args, uniffi_out_err.ret)\n        uniffi_out_err.statusFromReturn(0)\n    }\n"));
        // An Int (perhaps a u8 or u16 of 1-2 bytes) read from a zeroed element.
        assert!(out.contains(
            "        uniffi_out_err.putLong(0, `ptr`)\n\
             \x20       uniffi_out_err.clearReturn(0)\n\
             \x20       UniffiNative.uniffi_ffibuffer_c_fn_method_thing_small(uniffi_out_err.args, uniffi_out_err.ret)\n\
             \x20       uniffi_out_err.statusFromReturn(1)\n\
             \x20       return uniffi_out_err.getInt(0)\n"
        ));
        // Registration moves to UniffiNative; the scratch is sized for the largest call.
        assert!(out.contains("        UniffiNative.ensureInitialized()\n        uniffiCallbackInterfaceX.register(this)\n"));
        assert!(out.contains("        Native.register(UniffiNative::class.java, findLibraryName(componentName = \"c\"))\n"));
        assert!(out.contains("internal const val UNIFFI_FFI_ARG_ELEMENTS = 4\n"));
        assert!(out.contains("internal const val UNIFFI_FFI_RETURN_ELEMENTS = 7\n"));
        assert!(!out.contains("UniffiRustCallStatus"));
        assert!(out.starts_with("header\n") && out.ends_with("\nfooter\n"));
        assert_eq!(out.matches("external fun ").count(), 6);
    }

    #[test]
    fn refuses_what_it_cannot_marshal() {
        // A library without twins (the feature off).
        assert!(rewrite_uniffi_lib(SAMPLE, &HashSet::new()).is_err());
        // A twin with an argument type the buffer has no slot for.
        let odd = SAMPLE.replace("`request`: RustBuffer.ByValue", "`request`: SomethingNew");
        assert!(rewrite_uniffi_lib(&odd, &twins()).is_err());
        // A RustBuffer handed to JNA by a function without a status (async exports have a twin,
        // but not one this rewrite calls).
        let async_like = SAMPLE.replace(
            "    external fun uniffi_c_fn_init_callback_vtable_x(",
            "    external fun uniffi_c_fn_func_later(`arg`: RustBuffer.ByValue,\n    ): Long\n    external fun uniffi_c_fn_init_callback_vtable_x(",
        );
        let mut with_twin = twins();
        with_twin.insert("uniffi_ffibuffer_c_fn_func_later".into());
        assert!(rewrite_uniffi_lib(&async_like, &with_twin).is_err());
        // A RustBuffer by value with no twin: JNA would be handed a carrier.
        let mut no_free = twins();
        no_free.remove("uniffi_ffibuffer_ffi_c_rustbuffer_free");
        assert!(rewrite_uniffi_lib(SAMPLE, &no_free).is_err());
        // No UniffiLib, or two.
        assert!(rewrite_uniffi_lib("nothing\n", &twins()).is_err());
        assert!(rewrite_uniffi_lib(&format!("{SAMPLE}{SAMPLE}"), &twins()).is_err());
    }

    #[test]
    fn reads_the_symbols_of_a_real_library() {
        // This test binary is an ELF/Mach-O executable; it exports nothing we look for, but the
        // reader must parse it, and refuse a file that is no object at all.
        let me = std::env::current_exe().expect("current exe");
        assert!(exported_symbols(&me).is_ok());
        let junk = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(junk.path(), b"not a library").expect("write");
        assert!(exported_symbols(junk.path()).is_err());
    }
}
