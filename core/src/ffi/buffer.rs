//! FFI-buffer twins of the four `RustBuffer` helpers UniFFI's scaffolding exports.
//!
//! With uniffi's `scaffolding-ffi-buffer-fns` feature (on in `core/Cargo.toml`), every exported
//! function, method and constructor `uniffi_X` gets a twin `uniffi_ffibuffer_X(args, ret)` that
//! takes its arguments from one array of 8-byte `FfiBufferElement`s and writes its return value,
//! then its `RustCallStatus`, into another: no struct crosses the C ABI by value. The Kotlin
//! bindings call those twins (see `uniffi-bindgen/src/main.rs`), because JNA passes a struct by
//! value only through a reflective `Structure` with its own native allocation and cleaner, which
//! cost most of a call (BENCHMARKS.md).
//!
//! UniFFI makes no twins for the buffer helpers `setup_scaffolding!` defines, and every call that
//! lowers a record or string allocates a `RustBuffer` and every call that returns one frees it. The
//! twins below follow the same convention and the same name rule
//! (`uniffi_meta::ffi_buffer_symbol_name`), and call the very functions they twin. With them no
//! `RustBuffer` crosses from Kotlin to Rust by value at all, which the Kotlin wrappers rely on (and
//! the generator checks).

use uniffi::{FfiBufferElement, FfiSerialize, ForeignBytes, RustBuffer, RustCallStatus};

/// Defines `$twin(args, ret)` calling `crate::$target(args…, &mut status)`, in the layout of
/// UniFFI's own twins (`uniffi_macros`' `ffi_buffer_scaffolding_fn`).
macro_rules! twin {
    ($twin:ident => $target:ident($($arg:ident: $ty:ty),+) -> $ret:ty) => {
        #[doc = concat!("FFI-buffer twin of `", stringify!($target), "`.")]
        ///
        /// # Safety
        /// `args` must hold the arguments and `ret` have room for the return value and then the
        /// status, as `FfiBufferElement`s; any `RustBuffer` argument must come from this library
        /// and not have been freed.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $twin(args: *mut FfiBufferElement, ret: *mut FfiBufferElement) {
            // SAFETY: the caller hands buffers of these sizes (the contract above).
            let mut args = unsafe { std::slice::from_raw_parts(args, uniffi::ffi_buffer_size!($($ty),+)) };
            let mut ret = unsafe {
                std::slice::from_raw_parts_mut(ret, uniffi::ffi_buffer_size!($ret, RustCallStatus))
            };
            $(let $arg = <$ty as FfiSerialize>::read(&mut args);)+
            let mut status = RustCallStatus::default();
            // SAFETY: the arguments are what the caller promised (the contract above).
            #[allow(unused_unsafe)]
            let value = unsafe { crate::$target($($arg,)+ &mut status) };
            <$ret as FfiSerialize>::write(&mut ret, value);
            <RustCallStatus as FfiSerialize>::write(&mut ret, status);
        }
    };
}

twin!(uniffi_ffibuffer_ffi_roadside_core_rustbuffer_alloc => ffi_roadside_core_rustbuffer_alloc(size: u64) -> RustBuffer);
twin!(uniffi_ffibuffer_ffi_roadside_core_rustbuffer_from_bytes => ffi_roadside_core_rustbuffer_from_bytes(bytes: ForeignBytes) -> RustBuffer);
twin!(uniffi_ffibuffer_ffi_roadside_core_rustbuffer_free => ffi_roadside_core_rustbuffer_free(buf: RustBuffer) -> ());
twin!(uniffi_ffibuffer_ffi_roadside_core_rustbuffer_reserve => ffi_roadside_core_rustbuffer_reserve(buf: RustBuffer, additional: u64) -> RustBuffer);

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: &[FfiBufferElement]) -> bool {
        RustCallStatus::get(status).code == uniffi::RustCallStatusCode::Success
    }

    /// What a foreign caller does: alloc through the twin, write, grow, copy in, free.
    #[test]
    fn buffer_helpers_through_the_twins() {
        let mut args = [FfiBufferElement::default(); 4];
        let mut ret = [FfiBufferElement::default(); 7];
        args[0].u64 = 100;
        unsafe {
            uniffi_ffibuffer_ffi_roadside_core_rustbuffer_alloc(args.as_mut_ptr(), ret.as_mut_ptr())
        };
        let buf = RustBuffer::get(&ret[..3]);
        let status = RustCallStatus::get(&ret[3..]);
        assert!(status.code == uniffi::RustCallStatusCode::Success);
        // UniFFI's alloc hands out `size` zeroed bytes (the caller sets `len` to what it wrote).
        assert!(buf.capacity() >= 100);
        assert_eq!(buf.len(), 100);
        assert!(!buf.data_pointer().is_null());
        // The buffer is writable for its whole capacity.
        unsafe { std::ptr::write_bytes(buf.data_pointer() as *mut u8, 0xAB, 100) };

        // Grown by reserve: the bytes written stay.
        RustBuffer::put(&mut args, buf);
        args[3].u64 = 1000;
        let mut ret = [FfiBufferElement::default(); 7];
        unsafe {
            uniffi_ffibuffer_ffi_roadside_core_rustbuffer_reserve(
                args.as_mut_ptr(),
                ret.as_mut_ptr(),
            )
        };
        assert!(ok(&ret[3..]));
        let buf = RustBuffer::get(&ret[..3]);
        assert!(buf.capacity() >= 1100);
        assert_eq!(unsafe { *buf.data_pointer().add(99) }, 0xAB);
        RustBuffer::put(&mut args, buf);
        let mut ret = [FfiBufferElement::default(); 4];
        ret[0].i8 = 7; // overwritten with the outcome
        unsafe {
            uniffi_ffibuffer_ffi_roadside_core_rustbuffer_free(args.as_mut_ptr(), ret.as_mut_ptr())
        };
        assert!(ok(&ret));

        // Foreign bytes copied into a new buffer.
        let bytes = *b"\xe8\xb6\x85\xe9\x99\x90";
        let mut args = [FfiBufferElement::default(); 2];
        let mut ret = [FfiBufferElement::default(); 7];
        ForeignBytes::put(&mut args, unsafe {
            ForeignBytes::from_raw_parts(bytes.as_ptr(), 6)
        });
        unsafe {
            uniffi_ffibuffer_ffi_roadside_core_rustbuffer_from_bytes(
                args.as_mut_ptr(),
                ret.as_mut_ptr(),
            )
        };
        assert!(ok(&ret[3..]));
        let copied = RustBuffer::get(&ret[..3]).destroy_into_vec();
        assert_eq!(copied, bytes);
    }
}
