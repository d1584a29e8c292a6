//! What the ELF systems (Linux, the BSDs) share: how a function is run before `main`.

/// Records the signal and descriptor state the process arrived with, before the Rust runtime
/// changes it (see `inherit`): the loader runs `.init_array` entries before `main`.
#[used]
#[link_section = ".init_array"]
static RECORD_AT_START: extern "C" fn() = crate::inherit::record_at_start;
