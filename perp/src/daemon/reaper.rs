//! `perpd --run-reaper PROGRAM ARGS...`: perpd run again as the reaper of one run of a
//! `flag.killtree` service's main (perpetrate(5)), where the system has one (see
//! `platform::reaper`). It starts the runscript as its child, passes on perpd's signals,
//! adopts every orphan of the run's tree, and when the runscript ends, ends and reaps what is
//! left of the tree before ending the same way. perpd starts it in place of `./rc.main`, in
//! the service directory, with the run's environment and descriptors.

use std::ffi::OsString;

use crate::program::{Fail, Program};

/// The option that selects this mode; never given by an admin.
pub const ARG: &str = "--run-reaper";

/// The command line perpd runs to start `args` (the runscript's argv) under a reaper.
pub fn command(perpd_argv0: &std::ffi::OsStr, args: &[OsString]) -> Vec<OsString> {
    let mut v = vec![perpd_argv0.to_os_string(), ARG.into()];
    v.extend_from_slice(args);
    v
}

/// The reaper mode, if that is how perpd was run (`argv`: perpd's whole command line); returns
/// only if it was not.
pub fn main(program: &Program, argv: &[OsString]) {
    if argv.get(1).map(|a| a.as_os_str()) != Some(ARG.as_ref()) {
        return;
    }
    // Its lines speak for the perpd that started it, whose log they join.
    let log = program
        .clone()
        .speaking_for(platform::process::getppid() as u32);
    let args = &argv[2..];
    let Some(runscript) = args.first() else {
        program.finish(Err(Fail::Exit(111)));
    };
    let name = args.last().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let prefix = log.fatal_line(&format!("(in child for service {name}): "));
    match platform::reaper::run(runscript, args, Some("PERP_SVPID"), &prefix) {
        Ok(ended) => {
            if ended.killed > 0 {
                log.info(&format!(
                    "killtree: ended {} processes of service {name}",
                    ended.killed
                ));
            }
            platform::reaper::end_like(ended.status)
        }
        Err(e) => {
            log.say_fatal(&format!(
                "(in child for service {name}): failure starting {}: {}",
                runscript.to_string_lossy(),
                platform::errno::describe_io(&e)
            ));
            platform::process::exit_child(111)
        }
    }
}
