//! The facts that differ between the systems perp runs on, one file per OS, chosen here and
//! nowhere else: errno and signal names the OS adds, which rlimits exist, how to close every
//! descriptor above a number, how to make a close-on-exec pipe, the OOM score, and how a child
//! that execs at once is created. The rest of `platform` asks `os::` and never names an OS.
//! A system not listed here stops the build with a message rather than guessing.
//! (The poller's backend is chosen the same way, in `poll/mod.rs`.)
//!
//! Shared groups sit in their own files and are declared by the branches that use them:
//! `bsd.rs` (names the BSD family and macOS share), `sysv.rs` (the System V STREAMS and
//! link names Linux, NetBSD and macOS define), `elf.rs` (the start-up hook of the ELF
//! systems; macOS registers its own in `darwin.rs`), `reaper.rs` and `noreaper.rs` (the systems
//! with and without a subreaper), `scan.rs` (ending a run's tree found by reading the process
//! table, everywhere but FreeBSD), `kinfo.rs` (that table as NetBSD's and OpenBSD's sysctl
//! hand it out), `norunreaper.rs` (the systems that put no reaper of perpd's own in front of a
//! run: all but Linux), `kqtrack.rs` and `notrack.rs` (the systems whose kqueue follows every
//! fork of a run, NetBSD and OpenBSD, and the others; see `crate::track`).

cfg_if::cfg_if! {
    if #[cfg(any(target_os = "linux", target_os = "android"))] {
        mod elf;
        mod reaper;
        mod scan;
        mod notrack;
        mod sysv;
        mod linux;
        pub(crate) use linux::*;
        pub(crate) use scan::kill_tree;
        pub(crate) use notrack::TrackQueue;
    } else if #[cfg(any(target_os = "freebsd", target_os = "dragonfly"))] {
        mod bsd;
        mod elf;
        mod freebsd;
        mod norunreaper;
        mod notrack;
        mod reaper;
        pub(crate) use freebsd::*;
        pub(crate) use norunreaper::*;
        pub(crate) use notrack::TrackQueue;
    } else if #[cfg(target_os = "netbsd")] {
        mod bsd;
        mod elf;
        mod kinfo;
        mod kqtrack;
        mod noreaper;
        mod scan;
        mod sysv;
        mod netbsd;
        mod norunreaper;
        pub(crate) use kqtrack::TrackQueue;
        pub(crate) use netbsd::*;
        pub(crate) use scan::kill_tree;
        pub(crate) use norunreaper::*;
    } else if #[cfg(target_os = "openbsd")] {
        mod bsd;
        mod elf;
        mod kinfo;
        mod kqtrack;
        mod noreaper;
        mod openbsd;
        mod norunreaper;
        mod scan;
        pub(crate) use kqtrack::TrackQueue;
        pub(crate) use openbsd::*;
        pub(crate) use scan::kill_tree;
        pub(crate) use norunreaper::*;
    } else if #[cfg(any(target_os = "macos", target_os = "ios"))] {
        mod bsd;
        mod noreaper;
        mod scan;
        mod sysv;
        mod darwin;
        mod norunreaper;
        mod notrack;
        pub(crate) use darwin::*;
        pub(crate) use scan::kill_tree;
        pub(crate) use norunreaper::*;
        pub(crate) use notrack::TrackQueue;
    } else {
        compile_error!("perp's platform layer knows Linux, FreeBSD, NetBSD, OpenBSD and macOS; add a file in platform/src/os/ for this system");
    }
}
