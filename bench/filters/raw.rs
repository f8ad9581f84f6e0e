//! What both hand-written modules share: the few ABI imports they call, the allocator
//! export, and the memory gauge raised on each tick (not per request) to the largest linear
//! memory of the plugin's VMs.

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    pub fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    pub fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *mut *mut u8,
        value_size: *mut usize,
    ) -> u32;
    pub fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    pub fn proxy_add_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_get_metric(id: u32, value: *mut u64) -> u32;
}

pub const REQUEST_HEADERS: u32 = 0;
pub const RESPONSE_HEADERS: u32 = 2;
pub const CONTINUE: u32 = 0;
pub const PAUSE: u32 = 1;
const PLUGIN_CONFIGURATION: u32 = 7;
const GAUGE: u32 = 1;

static mut MEMORY_GAUGE: u32 = 0;

#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut block = Vec::<u8>::with_capacity(size);
    let ptr = block.as_mut_ptr();
    core::mem::forget(block);
    ptr
}

/// Frees a block the host filled through `proxy_on_memory_allocate`.
///
/// # Safety
/// `ptr` and `size` come from one host call that allocated through us.
pub unsafe fn free(ptr: *mut u8, size: usize) {
    if !ptr.is_null() {
        drop(unsafe { Vec::from_raw_parts(ptr, 0, size) });
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_vm_start(_root: u32, _size: usize) -> u32 {
    1
}

/// Reads the plugin configuration, defines the memory gauge and starts the ticks.
pub fn configure(size: usize) -> Vec<u8> {
    let (mut ptr, mut len) = (core::ptr::null_mut(), 0);
    let config = unsafe {
        if size > 0
            && proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, size, &mut ptr, &mut len) == 0
            && !ptr.is_null()
        {
            Vec::from_raw_parts(ptr, len, len)
        } else {
            Vec::new()
        }
    };
    let name = b"bench_memory_bytes";
    unsafe {
        proxy_define_metric(GAUGE, name.as_ptr(), name.len(), &raw mut MEMORY_GAUGE);
        proxy_set_tick_period_milliseconds(1000);
    }
    config
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_tick(_root: u32) {
    let bytes = core::arch::wasm32::memory_size(0) as u64 * 65536;
    let mut shown = 0;
    unsafe {
        if proxy_get_metric(MEMORY_GAUGE, &mut shown) == 0 && shown < bytes {
            proxy_record_metric(MEMORY_GAUGE, bytes);
        }
    }
}
