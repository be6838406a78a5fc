//! Loading a plugin library and calling it through the C ABI of
//! plugins/include/rkeepalived_plugin.h. `unsafe` is confined to this
//! module: dlopen, reading the descriptor, calling its function pointers.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use std::time::Duration;

pub const ABI_VERSION: u32 = 1;
pub const SYMBOL: &[u8] = b"rkeepalived_plugin\0";
const CHECK_OK: i32 = 0;

/// `struct rkeepalived_plugin`; function pointers as Options so a null
/// one is caught, not called.
#[repr(C)]
struct RawDescriptor {
    abi_version: u32,
    name: *const c_char,
    create: Option<unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> *mut c_void>,
    check: Option<unsafe extern "C" fn(*mut c_void, u32, *mut *mut c_char) -> i32>,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
    free_message: Option<unsafe extern "C" fn(*mut c_char)>,
}

/// A loaded plugin library whose descriptor has been validated.
pub struct Library {
    desc: *const RawDescriptor,
    pub name: String,
    // Keeps the code mapped while `desc` and handles are in use; last.
    _lib: libloading::Library,
}

// The descriptor is immutable data inside the mapped library.
unsafe impl Send for Library {}
unsafe impl Sync for Library {}

impl Library {
    /// dlopen()s `path` (running its constructors: only in a helper
    /// process, or in-process for `isolate no`) and validates the
    /// descriptor: the ABI version first, then the entry points.
    pub fn open(path: &Path) -> Result<Library, String> {
        // SAFETY: loading a library runs its initialisers; the caller has
        // checked its path (security) and chosen where it runs (isolation).
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load: {e}"))?;
        // SAFETY: the symbol is a data symbol; dlsym returns its address.
        let sym = unsafe { lib.get::<*const RawDescriptor>(SYMBOL) }
            .map_err(|_| "no 'rkeepalived_plugin' symbol: not an rkeepalived plugin".to_string())?;
        let desc: *const RawDescriptor = *sym;
        if desc.is_null() {
            return Err("the 'rkeepalived_plugin' symbol is null".into());
        }
        // SAFETY: every ABI version starts with the u32 version; read only
        // that before trusting the rest of the layout.
        let version = unsafe { std::ptr::read(desc.cast::<u32>()) };
        if version != ABI_VERSION {
            return Err(format!(
                "plugin ABI version {version}, but this rkeepalived knows version {ABI_VERSION}"
            ));
        }
        // SAFETY: version 1 layout, checked above.
        let d = unsafe { &*desc };
        if d.create.is_none() || d.check.is_none() || d.destroy.is_none() {
            return Err("the descriptor lacks create, check or destroy".into());
        }
        let name = if d.name.is_null() {
            String::from("?")
        } else {
            // SAFETY: the header requires a static NUL-terminated name.
            unsafe { CStr::from_ptr(d.name) }.to_string_lossy().into_owned()
        };
        Ok(Library { desc, name, _lib: lib })
    }

    fn desc(&self) -> &RawDescriptor {
        // SAFETY: validated in open; lives as long as the library.
        unsafe { &*self.desc }
    }

    /// Takes a message the plugin returned, then gives it back to be freed.
    fn take_message(&self, m: *mut c_char) -> Option<String> {
        if m.is_null() {
            return None;
        }
        // SAFETY: the plugin returns NUL-terminated strings.
        let text = unsafe { CStr::from_ptr(m) }.to_string_lossy().into_owned();
        if let Some(free) = self.desc().free_message {
            // SAFETY: the message came from this plugin.
            unsafe { free(m) };
        }
        Some(text)
    }

    /// `create(config)`.
    pub fn create(&self, config_json: &str) -> Result<Handle<'_>, String> {
        let c = CString::new(config_json).map_err(|_| "config contains NUL".to_string())?;
        let mut msg: *mut c_char = std::ptr::null_mut();
        let create = self.desc().create.ok_or("no create")?;
        // SAFETY: the ABI's create, with a NUL-terminated string and a slot.
        let h = unsafe { create(c.as_ptr(), &mut msg) };
        let text = self.take_message(msg);
        if h.is_null() {
            return Err(text.unwrap_or_else(|| "create failed".into()));
        }
        Ok(Handle { lib: self, handle: h })
    }
}

/// One plugin instance. Calls on it never overlap (`&mut self`).
pub struct Handle<'a> {
    lib: &'a Library,
    handle: *mut c_void,
}

// The plugin may be called from any one thread at a time (header).
unsafe impl Send for Handle<'_> {}

impl Handle<'_> {
    /// `check(handle, timeout)`: healthy or not, and the message.
    pub fn check(&mut self, timeout: Duration) -> (bool, Option<String>) {
        let mut msg: *mut c_char = std::ptr::null_mut();
        let Some(check) = self.lib.desc().check else {
            return (false, Some("no check".into()));
        };
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: a live handle from create; `&mut self` keeps calls apart.
        let r = unsafe { check(self.handle, ms, &mut msg) };
        (r == CHECK_OK, self.lib.take_message(msg))
    }
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        if let Some(destroy) = self.lib.desc().destroy {
            // SAFETY: the handle from create, not used after this.
            unsafe { destroy(self.handle) };
        }
    }
}
