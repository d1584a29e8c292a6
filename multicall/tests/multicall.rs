//! The multi-call executable under the names `make install` gives it: each name runs its
//! program, which names itself from argv[0] as the separate program does; a copy of the one
//! file under a program's name works alone; any other name takes the program from its first
//! operand.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::assert_output as expect;

const EXE: &str = env!("CARGO_BIN_EXE_perp-multicall");

fn linked(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    fs::hard_link(EXE, &p).unwrap();
    p
}

fn run(cmd: &mut Command) -> Output {
    cmd.env_remove("PERP_BASE").output().unwrap()
}

#[test]
fn each_name_runs_its_program() {
    let t = tempfile::tempdir().unwrap();
    let perpls = linked(t.path(), "perpls");
    expect(
        &run(Command::new(&perpls).arg("-Z")),
        100,
        "",
        "perpls usage error: invalid option -Z\nusage: perpls [-hV] [-b basedir] [-cGgrt] [sv ...]\n",
    );
    let perpstat = linked(t.path(), "perpstat");
    expect(
        &run(&mut Command::new(&perpstat)),
        100,
        "",
        "perpstat usage error: missing argument\nusage: perpstat [-hV] [-b basedir] sv [sv ...]\n",
    );
    let runargv0 = linked(t.path(), "runargv0");
    expect(
        &run(Command::new(&runargv0).arg("-V")),
        0,
        "",
        "runargv0: version: 2.07\n",
    );
}

#[test]
fn a_symlink_and_a_lone_copy_work() {
    let t = tempfile::tempdir().unwrap();
    let link = t.path().join("runtool");
    std::os::unix::fs::symlink(EXE, &link).unwrap();
    expect(
        &run(Command::new(&link).args(["-0", "x", "/bin/sh", "-c", "echo $0"])),
        0,
        "x\n",
        "",
    );
    let alone = tempfile::tempdir().unwrap();
    let copy = alone.path().join("runtool");
    fs::copy(EXE, &copy).unwrap();
    // Until the other tests' children have exec'd, one may still hold the copy open for
    // writing (inherited across fork): exec fails with ETXTBSY meanwhile.
    let out = testkit::wait_for("the copy to be executable", || {
        match Command::new(&copy)
            .env_remove("PERP_BASE")
            .args(["-0", "y", "/bin/sh", "-c", "echo $0"])
            .output()
        {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => None,
            other => Some(other.unwrap()),
        }
    });
    expect(&out, 0, "y\n", "");
}

#[test]
fn its_own_name_takes_the_program_from_the_first_operand() {
    expect(
        &run(Command::new(EXE).args(["perpok", "-V"])),
        0,
        "",
        "version: perpok 2.07\n",
    );
    let usage = "usage: perp-multicall program [args ...]\nprograms: perpctl perpls \
                 perpstat perpok perphup perpboot perp-setup tinylog tinylog_run sissylog \
                 runargs runargv0 runchoom rundetach rundeux runenv runfile runlimit runlock \
                 runpause runsession runtool runtrap runuid\n";
    expect(&run(&mut Command::new(EXE)), 100, "", usage);
    expect(&run(Command::new(EXE).arg("catargs")), 100, "", usage);
    expect(&run(Command::new(EXE).arg("perpd")), 100, "", usage);
}
