//! Write rkeepalived check plugins in safe Rust.
//!
//! Implement [`Plugin`] and export it with [`export_plugin!`]; build the
//! crate as a `cdylib`. The macro produces the `rkeepalived_plugin`
//! descriptor that `plugins/include/rkeepalived_plugin.h` specifies. Panics
//! are caught at the boundary and become a failed check (or a failed
//! `create`) with the panic's message; they never unwind into rkeepalived.
//!
//! ```ignore
//! use rkeepalived_plugin::{export_plugin, Plugin};
//! struct Always;
//! impl Plugin for Always {
//!     fn create(_config: &serde_json::Value) -> Result<Self, String> { Ok(Always) }
//!     fn check(&mut self, _timeout: std::time::Duration) -> Result<String, String> { Ok("fine".into()) }
//! }
//! export_plugin!(Always, "always");
//! ```

use std::time::Duration;

pub use serde_json;

/// The ABI version this SDK builds (`RKEEPALIVED_PLUGIN_ABI_VERSION`).
pub const ABI_VERSION: u32 = 1;
pub const CHECK_OK: i32 = 0;
pub const CHECK_FAIL: i32 = 1;

/// A check plugin. One value per `check_plugin` block; calls on one value
/// never overlap.
pub trait Plugin: Sized + Send + 'static {
    /// From the `config { }` block (see the header for the JSON mapping).
    fn create(config: &serde_json::Value) -> Result<Self, String>;
    /// One check, to finish within `timeout`: `Ok(message)` healthy,
    /// `Err(message)` unhealthy.
    fn check(&mut self, timeout: Duration) -> Result<String, String>;
}

/// A string config value (`key value`), or the first of several.
pub fn config_str<'a>(config: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    match config.get(key)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()),
        _ => None,
    }
}

/// The C side of the ABI. `unsafe` is confined here: it is what a C ABI
/// is; each function checks its pointers and catches panics.
#[allow(unsafe_code)]
pub mod ffi {
    use std::ffi::{c_char, c_void, CStr, CString};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::Duration;

    use super::Plugin;

    /// `struct rkeepalived_plugin`.
    #[repr(C)]
    pub struct Descriptor {
        pub abi_version: u32,
        pub name: *const c_char,
        pub create: unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> *mut c_void,
        pub check: unsafe extern "C" fn(*mut c_void, u32, *mut *mut c_char) -> i32,
        pub destroy: unsafe extern "C" fn(*mut c_void),
        pub free_message: Option<unsafe extern "C" fn(*mut c_char)>,
    }

    // The descriptor is immutable and its name points to a static string.
    unsafe impl Sync for Descriptor {}

    fn set_message(out: *mut *mut c_char, text: &str) {
        if out.is_null() {
            return;
        }
        let c = CString::new(text.replace('\0', " ")).unwrap_or_default();
        // SAFETY: `out` is non-null and points to the caller's slot.
        unsafe { *out = c.into_raw() };
    }

    fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
        match p.downcast::<String>() {
            Ok(s) => format!("plugin panicked: {s}"),
            Err(p) => match p.downcast::<&str>() {
                Ok(s) => format!("plugin panicked: {s}"),
                Err(_) => "plugin panicked".to_string(),
            },
        }
    }

    /// # Safety
    /// `config` is a NUL-terminated string or null; `message` a valid slot or null.
    pub unsafe extern "C" fn create<P: Plugin>(config: *const c_char, message: *mut *mut c_char) -> *mut c_void {
        let text = if config.is_null() {
            "{}".to_string()
        } else {
            // SAFETY: the caller passes a NUL-terminated string.
            unsafe { CStr::from_ptr(config) }.to_string_lossy().into_owned()
        };
        let made = catch_unwind(|| {
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("config is not JSON: {e}"))?;
            P::create(&value)
        });
        match made {
            Ok(Ok(p)) => Box::into_raw(Box::new(p)).cast(),
            Ok(Err(e)) => {
                set_message(message, &e);
                std::ptr::null_mut()
            }
            Err(p) => {
                set_message(message, &panic_text(p));
                std::ptr::null_mut()
            }
        }
    }

    /// # Safety
    /// `handle` comes from `create::<P>`; calls on it do not overlap.
    pub unsafe extern "C" fn check<P: Plugin>(handle: *mut c_void, timeout_ms: u32, message: *mut *mut c_char) -> i32 {
        if handle.is_null() {
            set_message(message, "no handle");
            return super::CHECK_FAIL;
        }
        // SAFETY: the handle is a live Box<P> from create, used by one call at a time.
        let p = unsafe { &mut *handle.cast::<P>() };
        match catch_unwind(AssertUnwindSafe(|| {
            p.check(Duration::from_millis(u64::from(timeout_ms)))
        })) {
            Ok(Ok(m)) => {
                if !m.is_empty() {
                    set_message(message, &m);
                }
                super::CHECK_OK
            }
            Ok(Err(m)) => {
                set_message(message, &m);
                super::CHECK_FAIL
            }
            Err(p) => {
                set_message(message, &panic_text(p));
                super::CHECK_FAIL
            }
        }
    }

    /// # Safety
    /// `handle` comes from `create::<P>` and is not used afterwards.
    pub unsafe extern "C" fn destroy<P: Plugin>(handle: *mut c_void) {
        if !handle.is_null() {
            // SAFETY: the handle is the Box<P> create made.
            let b = unsafe { Box::from_raw(handle.cast::<P>()) };
            let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
        }
    }

    /// # Safety
    /// `m` was returned by this plugin's `create` or `check`.
    pub unsafe extern "C" fn free_message(m: *mut c_char) {
        if !m.is_null() {
            // SAFETY: made by CString::into_raw in set_message.
            drop(unsafe { CString::from_raw(m) });
        }
    }
}

/// Exports `$plugin` (a [`Plugin`]) under the name `$name` as the
/// `rkeepalived_plugin` descriptor.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, $name:literal) => {
        #[allow(unsafe_code)]
        #[no_mangle]
        pub static rkeepalived_plugin: $crate::ffi::Descriptor = $crate::ffi::Descriptor {
            abi_version: $crate::ABI_VERSION,
            name: concat!($name, "\0").as_ptr() as *const ::std::ffi::c_char,
            create: $crate::ffi::create::<$plugin>,
            check: $crate::ffi::check::<$plugin>,
            destroy: $crate::ffi::destroy::<$plugin>,
            free_message: Some($crate::ffi::free_message),
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values() {
        let v = serde_json::json!({"url": "http://x", "ports": ["1", "2"], "flag": true});
        assert_eq!(config_str(&v, "url"), Some("http://x"));
        assert_eq!(config_str(&v, "ports"), Some("1"));
        assert_eq!(config_str(&v, "flag"), None);
        assert_eq!(config_str(&v, "none"), None);
    }
}
