//! The lifecycle's transitions, event by event, without processes.

use super::*;

fn at(ms: u64) -> Now {
    Now {
        mono: Duration::from_millis(ms),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + ms / 1000),
    }
}

fn act(log: bool, down: bool, once: bool) -> Activation {
    Activation {
        key: (1, 2),
        name: service_name(b"web"),
        has_log: log,
        flag_down: down,
        flag_once: once,
        stop_timeout: None,
    }
}

fn spawn(sub: Sub) -> Action {
    Action::Spawn {
        sub,
        run: Run::Start,
    }
}

fn sig(sub: Sub, pid: i32, sig: Sig) -> Action {
    Action::Signal {
        sub,
        pid,
        group: false,
        sig,
    }
}

fn warns(a: &[Action]) -> Vec<String> {
    a.iter()
        .filter_map(|a| match a {
            Action::Log(Msg::Warn(t)) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// A service with log, main pid 100 and log pid 99, both running start runs.
fn running() -> Service {
    let (mut s, a) = Service::activate(act(true, false, false), &at(0));
    assert_eq!(a, vec![spawn(Sub::Log), spawn(Sub::Main)]);
    assert!(s
        .spawn_result(Sub::Log, SpawnOutcome::Started(99), &at(0))
        .is_empty());
    assert!(s
        .spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0))
        .is_empty());
    s
}

#[test]
fn activation_starts_log_first_then_main() {
    let s = running();
    assert_eq!(s.flags, ServiceFlags::ACTIVE | ServiceFlags::HASLOG);
    assert_eq!(s.log().flags, SubFlags::ISLOG);
    assert!(s.main.flags.is_empty());
    assert_eq!((s.main.pid, s.log().pid), (100, 99));
    assert_eq!(s.main.starts, 1);
    assert_eq!(s.main.when_ok(), Duration::from_secs(1));
}

#[test]
fn activation_without_log_starts_only_main() {
    let (s, a) = Service::activate(act(false, false, false), &at(0));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert_eq!(s.flags, ServiceFlags::ACTIVE);
    assert!(s.log().flags.is_empty());
}

#[test]
fn flag_down_starts_only_the_log() {
    let (s, a) = Service::activate(act(true, true, false), &at(0));
    assert_eq!(a, vec![spawn(Sub::Log)]);
    assert_eq!(s.main.flags, SubFlags::WANTDOWN);
    assert_eq!(s.flags & ServiceFlags::DOWN, ServiceFlags::DOWN);
    assert_eq!(s.main.when, Wall::NEVER);
}

#[test]
fn flag_once_marks_main_once() {
    let (s, a) = Service::activate(act(false, false, true), &at(0));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert_eq!(s.main.flags, SubFlags::ISONCE);
    assert_eq!(s.flags & ServiceFlags::ONCE, ServiceFlags::ONCE);
}

#[test]
fn both_flags_down_wins_but_once_is_recorded() {
    let (s, a) = Service::activate(act(false, true, true), &at(0));
    assert!(a.is_empty());
    assert_eq!(s.main.flags, SubFlags::WANTDOWN);
    assert_eq!(
        s.flags & (ServiceFlags::DOWN | ServiceFlags::ONCE),
        ServiceFlags::DOWN | ServiceFlags::ONCE
    );
}

#[test]
fn start_exit_runs_reset_with_status_pid_and_seconds() {
    let mut s = running();
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(3), &at(2_400));
    assert_eq!(
        a,
        vec![Action::Spawn {
            sub: Sub::Main,
            run: Run::Reset {
                status: ExitStatus::Exited(3),
                svpid: 100,
                svsecs: 2
            }
        }]
    );
    assert!(s.main.has(SubFlags::ISRESET));
    assert_eq!(s.main.exits().len(), 1);
    assert_eq!(s.main.exits()[0].ran, Duration::from_millis(2_400));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(2_400));
    assert_eq!(s.main.pid, 101);
    // the reset ended: start again at once (it ran longer than 1 s)
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(2_500));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert!(!s.main.has(SubFlags::ISRESET));
    // resets are not history
    assert_eq!(s.main.exits().len(), 1);
    s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(2_500));
    assert_eq!(s.main.restarts(), 1);
}

#[test]
fn svsecs_rounds_like_clients() {
    assert_eq!(round_secs(Duration::from_millis(2_500)), 2);
    assert_eq!(round_secs(Duration::from_millis(2_501)), 3);
    assert_eq!(round_secs(Duration::from_millis(499)), 0);
}

/// A service without log whose main (pid 100, started at 0) crashed at 100 ms and whose reset
/// (pid 101) ended at 200 ms: the next start waits on the governor until 1 s.
fn governed() -> (Service, Vec<Action>) {
    let (mut s, _) = Service::activate(act(false, false, false), &at(0));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0));
    s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(100));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(100));
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(200));
    (s, a)
}

const GOVERNOR_LINE: &str =
    "setting respawn governor on 'start' target of service web for ./rc.main";

#[test]
fn governor_waits_with_no_process_then_starts_when_due() {
    let (mut s, a) = governed();
    // The line comes when the wait begins, and nothing is spawned yet.
    assert_eq!(a, vec![Action::Log(Msg::Warn(GOVERNOR_LINE.into()))]);
    assert_eq!(s.main.pid, 0);
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
    assert_eq!(s.next_deadline(), Some(Duration::from_secs(1)));
    // Down and wanting up, as clients see it: no pid, no WANTDOWN, not resetting.
    assert!(s.main.flags.is_empty());
    // Not due yet: nothing.
    assert!(s.deadline(&at(999)).is_empty());
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
    // Due: the start run is spawned now.
    assert_eq!(s.deadline(&at(1_000)), vec![spawn(Sub::Main)]);
    assert_eq!(s.main.start_at(), None);
    s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1_000));
    assert_eq!(s.main.pid, 102);
    assert_eq!(s.main.when_ok(), Duration::from_secs(2));
    assert_eq!(s.main.restarts(), 1);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn no_governor_after_a_long_run() {
    let mut s = running();
    s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_000));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(5_000));
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_100));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert_eq!(s.main.start_at(), None);
}

#[test]
fn down_during_governor_wait_cancels_the_start_without_a_reset() {
    let (mut s, _) = governed();
    let a = s.command(b'd', false, false, &at(300)).unwrap();
    // Nothing to signal and nothing to reset: the start never ran.
    assert!(a.is_empty());
    assert!(s.main.has(SubFlags::WANTDOWN));
    assert_eq!(s.main.start_at(), None);
    assert_eq!(s.next_deadline(), None);
    assert!(s.deadline(&at(1_000)).is_empty());
    assert_eq!(s.main.pid, 0);
    assert_eq!(s.main.restarts(), 0);
}

#[test]
fn up_during_governor_wait_keeps_the_wait() {
    let (mut s, _) = governed();
    assert!(s.command(b'u', false, false, &at(300)).unwrap().is_empty());
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
    assert_eq!(s.deadline(&at(1_000)), vec![spawn(Sub::Main)]);
}

#[test]
fn once_during_governor_wait_starts_once_when_due() {
    let (mut s, _) = governed();
    assert!(s.command(b'o', false, false, &at(300)).unwrap().is_empty());
    assert!(s.main.has(SubFlags::ISONCE));
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
    assert_eq!(s.deadline(&at(1_000)), vec![spawn(Sub::Main)]);
    s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1_000));
    // It ends: reset, then it stays down.
    s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(1_500));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(103), &at(1_500));
    assert!(s
        .child_exited(Sub::Main, ExitStatus::Exited(0), &at(1_600))
        .is_empty());
    assert!(s.main.has(SubFlags::WANTDOWN));
}

#[test]
fn down_then_up_during_governor_wait_waits_again() {
    let (mut s, _) = governed();
    s.command(b'd', false, false, &at(300)).unwrap();
    let a = s.command(b'u', false, false, &at(400)).unwrap();
    assert_eq!(a, vec![Action::Log(Msg::Warn(GOVERNOR_LINE.into()))]);
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
}

#[test]
fn signals_and_pause_during_governor_wait_do_nothing() {
    let (mut s, _) = governed();
    for c in [b't', b'k', b'p', b'c', b'h'] {
        assert!(s.command(c, false, false, &at(300)).unwrap().is_empty());
    }
    assert!(!s.main.has(SubFlags::ISPAUSED));
    assert_eq!(s.deadline(&at(1_000)), vec![spawn(Sub::Main)]);
}

#[test]
fn deactivation_during_governor_wait_removes_at_once() {
    let (mut s, _) = governed();
    assert_eq!(s.deactivate(&at(300)), vec![Action::Remove]);
    assert_eq!(s.main.start_at(), None);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn deactivation_during_governor_wait_stops_the_log_next() {
    let mut s = running();
    s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(100));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(100));
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(200));
    assert_eq!(warns(&a).len(), 1);
    // Shutdown deactivates every service the same way.
    assert_eq!(
        s.deactivate(&at(300)),
        vec![
            Action::ClosePipe,
            sig(Sub::Log, 99, Sig::Term),
            sig(Sub::Log, 99, Sig::Cont)
        ]
    );
    assert!(s.deadline(&at(1_000)).is_empty());
    s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(1_100));
    s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(1_100));
    assert_eq!(
        s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(1_200)),
        vec![Action::Remove]
    );
}

#[test]
fn the_logger_is_governed_on_its_own() {
    let mut s = running();
    s.child_exited(Sub::Log, ExitStatus::Exited(1), &at(100));
    s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(100));
    let a = s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(200));
    assert_eq!(
        warns(&a),
        vec!["setting respawn governor on 'start' target of service web for ./rc.log"]
    );
    assert_eq!(s.log().start_at(), Some(Duration::from_secs(1)));
    assert_eq!(s.main.pid, 100);
    assert_eq!(s.deadline(&at(1_000)), vec![spawn(Sub::Log)]);
}

#[test]
fn fork_failure_when_due_is_retried() {
    let (mut s, _) = governed();
    s.deadline(&at(1_000));
    s.spawn_result(Sub::Main, SpawnOutcome::ForkFailed("x".into()), &at(1_000));
    assert!(s.main.has(SubFlags::FAILING));
    assert_eq!(
        s.next_deadline(),
        Some(Duration::from_secs(1) + RETRY_PAUSE)
    );
    assert_eq!(s.deadline(&at(1_600)), vec![spawn(Sub::Main)]);
}

#[test]
fn up_is_governed_too() {
    let mut s = running();
    s.command(b'd', false, false, &at(100)).unwrap();
    s.child_exited(Sub::Main, ExitStatus::Signaled(15), &at(150));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(150));
    assert!(s
        .child_exited(Sub::Main, ExitStatus::Exited(0), &at(200))
        .is_empty());
    let a = s.command(b'u', false, false, &at(300)).unwrap();
    assert_eq!(warns(&a).len(), 1);
    assert!(!a.contains(&spawn(Sub::Main)));
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
}

#[test]
fn once_mode_runs_reset_and_stays_down() {
    let (mut s, _) = Service::activate(act(false, false, true), &at(0));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0));
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_000));
    assert!(matches!(
        a[0],
        Action::Spawn {
            run: Run::Reset { .. },
            ..
        }
    ));
    assert!(s.main.has(SubFlags::WANTDOWN | SubFlags::ISONCE));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(5_000));
    assert!(s
        .child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_100))
        .is_empty());
    assert_eq!(
        s.main.flags,
        SubFlags::ISONCE | SubFlags::WANTDOWN | SubFlags::ISRESET
    );
    // u clears once and starts
    let a = s.command(b'u', false, false, &at(6_000)).unwrap();
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert!(!s
        .main
        .flags
        .intersects(SubFlags::ISONCE | SubFlags::WANTDOWN));
}

#[test]
fn o_on_running_service_then_exit_stays_down() {
    let mut s = running();
    assert!(s.command(b'o', false, false, &at(10)).unwrap().is_empty());
    assert!(s.main.has(SubFlags::ISONCE));
    s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(20));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(20));
    assert!(s
        .child_exited(Sub::Main, ExitStatus::Exited(0), &at(30))
        .is_empty());
    // o on a down subservice starts it
    let a = s.command(b'o', false, false, &at(2_000)).unwrap();
    assert_eq!(a, vec![spawn(Sub::Main)]);
}

#[test]
fn d_sends_term_then_cont_and_clears_pause() {
    let mut s = running();
    let a = s.command(b'p', false, false, &at(10)).unwrap();
    assert_eq!(a, vec![sig(Sub::Main, 100, Sig::Stop)]);
    assert!(s.main.has(SubFlags::ISPAUSED));
    let a = s.command(b'd', false, false, &at(20)).unwrap();
    assert_eq!(
        a,
        vec![
            sig(Sub::Main, 100, Sig::Term),
            sig(Sub::Main, 100, Sig::Cont)
        ]
    );
    assert_eq!(s.main.flags, SubFlags::WANTDOWN);
}

#[test]
fn u_on_running_does_nothing() {
    let mut s = running();
    assert!(s.command(b'u', false, false, &at(10)).unwrap().is_empty());
    assert_eq!(s.main.pid, 100);
}

#[test]
fn pause_continue_and_pause_when_down() {
    let mut s = running();
    s.command(b'p', false, false, &at(10)).unwrap();
    let a = s.command(b'c', false, false, &at(20)).unwrap();
    assert_eq!(a, vec![sig(Sub::Main, 100, Sig::Cont)]);
    assert!(!s.main.has(SubFlags::ISPAUSED));
    let (mut d, _) = Service::activate(act(false, true, false), &at(0));
    assert!(d.command(b'p', false, false, &at(10)).unwrap().is_empty());
    assert!(!d.main.has(SubFlags::ISPAUSED));
}

#[test]
fn pause_is_cleared_by_a_new_start() {
    let mut s = running();
    s.command(b'p', false, false, &at(10)).unwrap();
    s.command(b'k', false, false, &at(20)).unwrap();
    s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(2_000));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(2_000));
    s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(2_100));
    assert!(!s.main.has(SubFlags::ISPAUSED));
}

#[test]
fn every_signal_letter() {
    let table = [
        (b'a', Sig::Alrm),
        (b'h', Sig::Hup),
        (b'i', Sig::Int),
        (b'k', Sig::Kill),
        (b'q', Sig::Quit),
        (b't', Sig::Term),
        (b'w', Sig::Winch),
        (b'1', Sig::Usr1),
        (b'2', Sig::Usr2),
    ];
    for (c, want) in table {
        let mut s = running();
        assert_eq!(
            s.command(c, false, false, &at(10)).unwrap(),
            vec![sig(Sub::Main, 100, want)],
            "{}",
            c as char
        );
        assert_eq!(
            s.command(c, true, true, &at(10)).unwrap(),
            vec![Action::Signal {
                sub: Sub::Log,
                pid: 99,
                group: true,
                sig: want
            }]
        );
    }
}

#[test]
fn unknown_letter_is_eproto_and_changes_nothing() {
    let mut s = running();
    let before = s.main.flags;
    assert_eq!(s.command(b'z', false, false, &at(10)), Err(CmdError::Proto));
    assert_eq!(s.command(b'X', false, false, &at(10)), Err(CmdError::Proto));
    assert_eq!(s.main.flags, before);
}

#[test]
fn signals_to_a_reset_run() {
    let mut s = running();
    s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(10));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(10));
    let a = s.command(b't', false, false, &at(20)).unwrap();
    assert_eq!(
        warns(&a),
        vec!["dropping signal SIGTERM to resetting service web (main)"]
    );
    assert_eq!(a.len(), 1);
    assert!(s.command(b'p', false, false, &at(20)).unwrap().is_empty());
    assert!(!s.main.has(SubFlags::ISPAUSED));
    let a = s.command(b'k', false, false, &at(20)).unwrap();
    assert_eq!(
        warns(&a),
        vec!["sending signal SIGKILL to resetting service web (main)"]
    );
    assert_eq!(a[1], sig(Sub::Main, 101, Sig::Kill));
    // d during reset: TERM dropped, CONT sent, stays down after the reset
    let a = s.command(b'd', false, false, &at(30)).unwrap();
    assert_eq!(
        warns(&a),
        vec![
            "dropping signal SIGTERM to resetting service web (main)",
            "sending signal SIGCONT to resetting service web (main)"
        ]
    );
    assert!(s
        .child_exited(Sub::Main, ExitStatus::Signaled(9), &at(40))
        .is_empty());
    assert_eq!(s.main.pid, 0);
}

#[test]
fn log_flag_commands_and_logless_service() {
    let mut s = running();
    let a = s.command(b't', true, false, &at(10)).unwrap();
    assert_eq!(a, vec![sig(Sub::Log, 99, Sig::Term)]);
    let (mut n, _) = Service::activate(act(false, false, false), &at(0));
    n.spawn_result(Sub::Main, SpawnOutcome::Started(5), &at(0));
    assert!(n.command(b't', true, false, &at(10)).unwrap().is_empty());
    assert!(n.command(b'u', true, false, &at(10)).unwrap().is_empty());
    assert!(n.command(b'o', true, false, &at(10)).unwrap().is_empty());
    // A service without rc.log has no log state to change.
    assert!(n.log().flags.is_empty());
}

#[test]
fn meta_commands() {
    let mut s = running();
    let a = s.command(b'D', false, false, &at(10)).unwrap();
    assert_eq!(
        a,
        vec![
            sig(Sub::Main, 100, Sig::Term),
            sig(Sub::Main, 100, Sig::Cont),
            sig(Sub::Log, 99, Sig::Term),
            sig(Sub::Log, 99, Sig::Cont)
        ]
    );
    assert!(s.command(b'D', true, false, &at(10)).unwrap().is_empty());
    // bring both down, then U starts log before main
    for (sub, pid) in [(Sub::Main, 100), (Sub::Log, 99)] {
        s.child_exited(sub, ExitStatus::Signaled(15), &at(2_000));
        s.spawn_result(sub, SpawnOutcome::Started(pid + 10), &at(2_000));
    }
    // main reset ends first; the pipe is NOT closed outside deactivation
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(2_100));
    assert!(a.is_empty(), "{a:?}");
    assert!(s
        .child_exited(Sub::Log, ExitStatus::Exited(0), &at(2_100))
        .is_empty());
    assert!(s.command(b'U', true, false, &at(3_000)).unwrap().is_empty());
    let a = s.command(b'U', false, false, &at(3_000)).unwrap();
    assert_eq!(a, vec![spawn(Sub::Log), spawn(Sub::Main)]);
}

#[test]
fn deactivation_order_main_reset_then_log() {
    let mut s = running();
    let a = s.deactivate(&at(10));
    assert_eq!(
        a,
        vec![
            sig(Sub::Main, 100, Sig::Term),
            sig(Sub::Main, 100, Sig::Cont)
        ]
    );
    assert!(s.has(ServiceFlags::CULL));
    assert_eq!(s.command(b'u', false, false, &at(10)), Err(CmdError::Busy));
    // main's start ends -> its reset runs while the logger lives
    let a = s.child_exited(Sub::Main, ExitStatus::Signaled(15), &at(20));
    assert!(matches!(
        a[0],
        Action::Spawn {
            sub: Sub::Main,
            run: Run::Reset { .. }
        }
    ));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(20));
    // main's reset ends -> close the pipe, TERM+CONT the logger
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(30));
    assert_eq!(
        a,
        vec![
            Action::ClosePipe,
            sig(Sub::Log, 99, Sig::Term),
            sig(Sub::Log, 99, Sig::Cont)
        ]
    );
    let a = s.child_exited(Sub::Log, ExitStatus::Signaled(15), &at(40));
    assert!(matches!(
        a[0],
        Action::Spawn {
            sub: Sub::Log,
            run: Run::Reset { .. }
        }
    ));
    s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(40));
    assert_eq!(
        s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(50)),
        vec![Action::Remove]
    );
}

#[test]
fn deactivation_with_nothing_running_removes_at_once() {
    let (mut s, _) = Service::activate(act(false, true, false), &at(0));
    assert_eq!(s.deactivate(&at(10)), vec![Action::Remove]);
}

#[test]
fn deactivation_with_main_down_stops_the_log() {
    let (mut s, _) = Service::activate(act(true, true, false), &at(0));
    s.spawn_result(Sub::Log, SpawnOutcome::Started(7), &at(0));
    assert_eq!(
        s.deactivate(&at(10)),
        vec![
            Action::ClosePipe,
            sig(Sub::Log, 7, Sig::Term),
            sig(Sub::Log, 7, Sig::Cont)
        ]
    );
}

#[test]
fn deactivation_during_main_reset_sends_only_cont() {
    let mut s = running();
    s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(10));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(10));
    assert_eq!(s.deactivate(&at(20)), vec![sig(Sub::Main, 101, Sig::Cont)]);
}

#[test]
fn stop_timeout_kills_what_ignores_term() {
    let mut a = act(false, false, false);
    a.stop_timeout = Some(Duration::from_secs(2));
    let (mut s, _) = Service::activate(a, &at(0));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(5), &at(0));
    s.deactivate(&at(1_000));
    assert_eq!(s.next_deadline(), Some(Duration::from_secs(3)));
    assert!(s.deadline(&at(2_999)).is_empty());
    let a = s.deadline(&at(3_000));
    assert_eq!(a.last(), Some(&sig(Sub::Main, 5, Sig::Kill)));
    assert_eq!(warns(&a).len(), 1);
    // the reset run during deactivation gets its own deadline
    s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(3_010));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(6), &at(3_010));
    assert_eq!(s.next_deadline(), Some(Duration::from_millis(5_010)));
    assert_eq!(
        s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(3_020)),
        vec![Action::Remove]
    );
}

#[test]
fn no_stop_timeout_by_default() {
    let mut s = running();
    s.deactivate(&at(10));
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn fork_failure_is_retried_after_a_pause() {
    let (mut s, _) = Service::activate(act(false, false, false), &at(0));
    let a = s.spawn_result(
        Sub::Main,
        SpawnOutcome::ForkFailed("temporary i/o failure (EAGAIN)".into()),
        &at(0),
    );
    assert_eq!(
        warns(&a),
        vec!["failure fork() for service web: temporary i/o failure (EAGAIN)"]
    );
    assert!(s.main.has(SubFlags::FAILING));
    assert_eq!(s.next_deadline(), Some(RETRY_PAUSE));
    assert_eq!(s.deadline(&at(600)), vec![spawn(Sub::Main)]);
    let a = s.spawn_result(Sub::Main, SpawnOutcome::ForkFailed("x".into()), &at(600));
    assert_eq!(warns(&a)[1], "pausing on persistent fork() failure...");
    s.deadline(&at(1_200));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(9), &at(1_200));
    assert!(!s.main.has(SubFlags::FAILING));
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn exec_failure_counts_as_exit_111() {
    let (mut s, _) = Service::activate(act(false, false, false), &at(0));
    let a = s.spawn_result(
        Sub::Main,
        SpawnOutcome::ExecFailed(" failure execve(): file does not exist (ENOENT)".into()),
        &at(0),
    );
    assert_eq!(
        a[0],
        Action::Log(Msg::ChildFatal(
            "(in child for service web):  failure execve(): file does not exist (ENOENT)".into()
        ))
    );
    assert_eq!(
        a[1],
        Action::Spawn {
            sub: Sub::Main,
            run: Run::Reset {
                status: ExitStatus::Exited(111),
                svpid: 0,
                svsecs: 0
            }
        }
    );
    // the reset fails the same way; the next start is governed
    let a = s.spawn_result(Sub::Main, SpawnOutcome::ExecFailed("x".into()), &at(5));
    assert_eq!(warns(&a).len(), 1);
    assert!(!a.contains(&spawn(Sub::Main)));
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
}

#[test]
fn history_keeps_the_last_exits() {
    let mut s = running();
    for i in 0..(HISTORY_LEN as u64 + 3) {
        let t = 2_000 * (i + 1);
        s.child_exited(Sub::Main, ExitStatus::Exited(i as i32), &at(t));
        s.spawn_result(Sub::Main, SpawnOutcome::Started(200), &at(t));
        s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(t + 10));
        s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(t + 10));
    }
    assert_eq!(s.main.exits().len(), HISTORY_LEN);
    let last = HISTORY_LEN as i32 + 2;
    assert_eq!(
        s.main.exits().last().unwrap().status,
        ExitStatus::Exited(last)
    );
    assert_eq!(s.main.restarts(), HISTORY_LEN as u32 + 3);
}

#[test]
fn removal_after_log_died_on_its_own_during_cull() {
    let mut s = running();
    s.deactivate(&at(10));
    // logger dies by itself: reset, then it stays down (WANTDOWN)
    s.child_exited(Sub::Log, ExitStatus::Exited(1), &at(20));
    s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(20));
    assert!(s
        .child_exited(Sub::Log, ExitStatus::Exited(0), &at(30))
        .is_empty());
    s.child_exited(Sub::Main, ExitStatus::Signaled(15), &at(40));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(40));
    assert_eq!(
        s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(50)),
        vec![Action::Remove]
    );
}

#[test]
fn names_are_cut_at_31_bytes() {
    let long = "a".repeat(40);
    assert_eq!(
        service_name(long.as_bytes()).as_bytes(),
        "a".repeat(31).as_bytes()
    );
    assert_eq!(service_name(b"web").as_bytes(), b"web");
}

#[test]
fn deadline_is_the_earliest() {
    let mut a = act(true, false, false);
    a.stop_timeout = Some(Duration::from_secs(5));
    let (mut s, _) = Service::activate(a, &at(0));
    s.spawn_result(Sub::Log, SpawnOutcome::Started(99), &at(0));
    s.spawn_result(Sub::Main, SpawnOutcome::ForkFailed("x".into()), &at(0));
    assert_eq!(s.next_deadline(), Some(RETRY_PAUSE));
    s.deactivate(&at(100));
    // The retry is dropped; the log's stop timeout remains.
    assert_eq!(s.main.next_deadline(), None);
    assert_eq!(s.next_deadline(), Some(Duration::from_millis(5_100)));
}

#[test]
fn state_is_compact() {
    assert_eq!(std::mem::size_of::<SubState>(), 48);
    assert_eq!(std::mem::size_of::<Service>(), 120);
}

#[test]
fn history_ring_keeps_order_across_wraps() {
    let mut h = History::default();
    for i in 0..(HISTORY_LEN as i64 * 2 + 1) {
        h.push(Exit {
            when: i * 1_000_000,
            ran: 0,
            status: Wstat::of(ExitStatus::Exited(i as i32)),
        });
    }
    let codes: Vec<ExitStatus> = h.exits().iter().map(|e| e.status).collect();
    let want: Vec<ExitStatus> = (HISTORY_LEN as i32 + 1..=HISTORY_LEN as i32 * 2)
        .map(ExitStatus::Exited)
        .collect();
    assert_eq!(codes, want);
}

#[test]
fn times_and_statuses_round_trip() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
    assert_eq!(Wall::of(t).get(), Some(t));
    let before = SystemTime::UNIX_EPOCH - Duration::from_micros(5);
    assert_eq!(Wall::of(before).get(), Some(before));
    assert_eq!(Wall::NEVER.get(), None);
    for st in [
        ExitStatus::Exited(0),
        ExitStatus::Exited(255),
        ExitStatus::Signaled(9),
        ExitStatus::Signaled(64),
    ] {
        assert_eq!(Wstat::of(st).get(), st);
    }
}
