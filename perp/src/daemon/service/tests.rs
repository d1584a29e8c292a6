//! The lifecycle's transitions, event by event, without processes.

use super::*;

/// What a transition returns, without its events (the tests of events look at them apart).
trait Plain {
    fn plain(self) -> Self;
}

impl Plain for Vec<Action> {
    fn plain(mut self) -> Self {
        self.retain(|a| !matches!(a, Action::Event(_)));
        self
    }
}

impl<E> Plain for Result<Vec<Action>, E> {
    fn plain(self) -> Self {
        self.map(Plain::plain)
    }
}

impl Plain for (Service, Vec<Action>) {
    fn plain(self) -> Self {
        (self.0, self.1.plain())
    }
}

fn plain<T: Plain>(t: T) -> T {
    t.plain()
}

fn at(ms: u64) -> Now {
    Now {
        mono: Duration::from_millis(ms),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + ms / 1000),
        random: 0.0,
    }
}

fn act(log: bool, down: bool, once: bool) -> Activation {
    Activation {
        key: (1, 2),
        name: service_name(b"web"),
        has_log: log,
        flag_down: down,
        flag_once: once,
        killtree: false,
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
    let (mut s, a) = plain(Service::activate(act(true, false, false), &at(0)));
    assert_eq!(a, vec![spawn(Sub::Log), spawn(Sub::Main)]);
    assert!(plain(s.spawn_result(Sub::Log, SpawnOutcome::Started(99), &at(0))).is_empty());
    assert!(plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0))).is_empty());
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
    let (s, a) = plain(Service::activate(act(false, false, false), &at(0)));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert_eq!(s.flags, ServiceFlags::ACTIVE);
    assert!(s.log().flags.is_empty());
}

#[test]
fn flag_down_starts_only_the_log() {
    let (s, a) = plain(Service::activate(act(true, true, false), &at(0)));
    assert_eq!(a, vec![spawn(Sub::Log)]);
    assert_eq!(s.main.flags, SubFlags::WANTDOWN);
    assert_eq!(s.flags & ServiceFlags::DOWN, ServiceFlags::DOWN);
    assert_eq!(s.main.when, Wall::NEVER);
}

#[test]
fn flag_once_marks_main_once() {
    let (s, a) = plain(Service::activate(act(false, false, true), &at(0)));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert_eq!(s.main.flags, SubFlags::ISONCE);
    assert_eq!(s.flags & ServiceFlags::ONCE, ServiceFlags::ONCE);
}

#[test]
fn both_flags_down_wins_but_once_is_recorded() {
    let (s, a) = plain(Service::activate(act(false, true, true), &at(0)));
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
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(3), &at(2_400)));
    assert_eq!(
        a,
        vec![Action::Spawn {
            sub: Sub::Main,
            run: Run::Reset {
                status: ExitStatus::Exited(3),
                svpid: 100,
                svsecs: 2,
                fails: None
            }
        }]
    );
    assert!(s.main.has(SubFlags::ISRESET));
    assert_eq!(s.main.exits().len(), 1);
    assert_eq!(s.main.exits()[0].ran, Duration::from_millis(2_400));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(2_400)));
    assert_eq!(s.main.pid, 101);
    // the reset ended: start again at once (it ran longer than 1 s)
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(2_500)));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert!(!s.main.has(SubFlags::ISRESET));
    // resets are not history
    assert_eq!(s.main.exits().len(), 1);
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(2_500)));
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
    let (mut s, _) = plain(Service::activate(act(false, false, false), &at(0)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0)));
    plain(s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(100)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(100)));
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(200)));
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
    assert!(plain(s.deadline(&at(999))).is_empty());
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
    // Due: the start run is spawned now.
    assert_eq!(plain(s.deadline(&at(1_000))), vec![spawn(Sub::Main)]);
    assert_eq!(s.main.start_at(), None);
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1_000)));
    assert_eq!(s.main.pid, 102);
    assert_eq!(s.main.when_ok(), Duration::from_secs(2));
    assert_eq!(s.main.restarts(), 1);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn no_governor_after_a_long_run() {
    let mut s = running();
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_000)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(5_000)));
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_100)));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert_eq!(s.main.start_at(), None);
}

#[test]
fn down_during_governor_wait_cancels_the_start_without_a_reset() {
    let (mut s, _) = governed();
    let a = plain(s.command(b'd', false, false, &at(300))).unwrap();
    // Nothing to signal and nothing to reset: the start never ran.
    assert!(a.is_empty());
    assert!(s.main.has(SubFlags::WANTDOWN));
    assert_eq!(s.main.start_at(), None);
    assert_eq!(s.next_deadline(), None);
    assert!(plain(s.deadline(&at(1_000))).is_empty());
    assert_eq!(s.main.pid, 0);
    assert_eq!(s.main.restarts(), 0);
}

#[test]
fn up_during_governor_wait_keeps_the_wait() {
    let (mut s, _) = governed();
    assert!(plain(s.command(b'u', false, false, &at(300)))
        .unwrap()
        .is_empty());
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
    assert_eq!(plain(s.deadline(&at(1_000))), vec![spawn(Sub::Main)]);
}

#[test]
fn once_during_governor_wait_starts_once_when_due() {
    let (mut s, _) = governed();
    assert!(plain(s.command(b'o', false, false, &at(300)))
        .unwrap()
        .is_empty());
    assert!(s.main.has(SubFlags::ISONCE));
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
    assert_eq!(plain(s.deadline(&at(1_000))), vec![spawn(Sub::Main)]);
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1_000)));
    // It ends: reset, then it stays down.
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(1_500)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(103), &at(1_500)));
    assert!(plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(1_600))).is_empty());
    assert!(s.main.has(SubFlags::WANTDOWN));
}

#[test]
fn down_then_up_during_governor_wait_waits_again() {
    let (mut s, _) = governed();
    plain(s.command(b'd', false, false, &at(300))).unwrap();
    let a = plain(s.command(b'u', false, false, &at(400))).unwrap();
    assert_eq!(a, vec![Action::Log(Msg::Warn(GOVERNOR_LINE.into()))]);
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
}

#[test]
fn signals_and_pause_during_governor_wait_do_nothing() {
    let (mut s, _) = governed();
    for c in [b't', b'k', b'p', b'c', b'h'] {
        assert!(plain(s.command(c, false, false, &at(300)))
            .unwrap()
            .is_empty());
    }
    assert!(!s.main.has(SubFlags::ISPAUSED));
    assert_eq!(plain(s.deadline(&at(1_000))), vec![spawn(Sub::Main)]);
}

#[test]
fn deactivation_during_governor_wait_removes_at_once() {
    let (mut s, _) = governed();
    assert_eq!(plain(s.deactivate(&at(300))), vec![Action::Remove]);
    assert_eq!(s.main.start_at(), None);
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn deactivation_during_governor_wait_stops_the_log_next() {
    let mut s = running();
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(100)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(100)));
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(200)));
    assert_eq!(warns(&a).len(), 1);
    // Shutdown deactivates every service the same way.
    assert_eq!(
        plain(s.deactivate(&at(300))),
        vec![
            Action::ClosePipe,
            sig(Sub::Log, 99, Sig::Term),
            sig(Sub::Log, 99, Sig::Cont)
        ]
    );
    assert!(plain(s.deadline(&at(1_000))).is_empty());
    plain(s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(1_100)));
    plain(s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(1_100)));
    assert_eq!(
        plain(s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(1_200))),
        vec![Action::Remove]
    );
}

#[test]
fn the_logger_is_governed_on_its_own() {
    let mut s = running();
    plain(s.child_exited(Sub::Log, ExitStatus::Exited(1), &at(100)));
    plain(s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(100)));
    let a = plain(s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(200)));
    assert_eq!(
        warns(&a),
        vec!["setting respawn governor on 'start' target of service web for ./rc.log"]
    );
    assert_eq!(s.log().start_at(), Some(Duration::from_secs(1)));
    assert_eq!(s.main.pid, 100);
    assert_eq!(plain(s.deadline(&at(1_000))), vec![spawn(Sub::Log)]);
}

#[test]
fn fork_failure_when_due_is_retried() {
    let (mut s, _) = governed();
    plain(s.deadline(&at(1_000)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::ForkFailed("x".into()), &at(1_000)));
    assert!(s.main.has(SubFlags::FAILING));
    assert_eq!(
        s.next_deadline(),
        Some(Duration::from_secs(1) + RETRY_PAUSE)
    );
    assert_eq!(plain(s.deadline(&at(1_600))), vec![spawn(Sub::Main)]);
}

#[test]
fn up_is_governed_too() {
    let mut s = running();
    plain(s.command(b'd', false, false, &at(100))).unwrap();
    plain(s.child_exited(Sub::Main, ExitStatus::Signaled(15), &at(150)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(150)));
    assert!(plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(200))).is_empty());
    let a = plain(s.command(b'u', false, false, &at(300))).unwrap();
    assert_eq!(warns(&a).len(), 1);
    assert!(!a.contains(&spawn(Sub::Main)));
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
}

#[test]
fn once_mode_runs_reset_and_stays_down() {
    let (mut s, _) = plain(Service::activate(act(false, false, true), &at(0)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0)));
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_000)));
    assert!(matches!(
        a[0],
        Action::Spawn {
            run: Run::Reset { .. },
            ..
        }
    ));
    assert!(s.main.has(SubFlags::WANTDOWN | SubFlags::ISONCE));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(5_000)));
    assert!(plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(5_100))).is_empty());
    assert_eq!(
        s.main.flags,
        SubFlags::ISONCE | SubFlags::WANTDOWN | SubFlags::ISRESET
    );
    // u clears once and starts
    let a = plain(s.command(b'u', false, false, &at(6_000))).unwrap();
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert!(!s
        .main
        .flags
        .intersects(SubFlags::ISONCE | SubFlags::WANTDOWN));
}

#[test]
fn o_on_running_service_then_exit_stays_down() {
    let mut s = running();
    assert!(plain(s.command(b'o', false, false, &at(10)))
        .unwrap()
        .is_empty());
    assert!(s.main.has(SubFlags::ISONCE));
    plain(s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(20)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(20)));
    assert!(plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(30))).is_empty());
    // o on a down subservice starts it
    let a = plain(s.command(b'o', false, false, &at(2_000))).unwrap();
    assert_eq!(a, vec![spawn(Sub::Main)]);
}

#[test]
fn d_sends_term_then_cont_and_clears_pause() {
    let mut s = running();
    let a = plain(s.command(b'p', false, false, &at(10))).unwrap();
    assert_eq!(a, vec![sig(Sub::Main, 100, Sig::Stop)]);
    assert!(s.main.has(SubFlags::ISPAUSED));
    let a = plain(s.command(b'd', false, false, &at(20))).unwrap();
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
    assert!(plain(s.command(b'u', false, false, &at(10)))
        .unwrap()
        .is_empty());
    assert_eq!(s.main.pid, 100);
}

#[test]
fn pause_continue_and_pause_when_down() {
    let mut s = running();
    plain(s.command(b'p', false, false, &at(10))).unwrap();
    let a = plain(s.command(b'c', false, false, &at(20))).unwrap();
    assert_eq!(a, vec![sig(Sub::Main, 100, Sig::Cont)]);
    assert!(!s.main.has(SubFlags::ISPAUSED));
    let (mut d, _) = plain(Service::activate(act(false, true, false), &at(0)));
    assert!(plain(d.command(b'p', false, false, &at(10)))
        .unwrap()
        .is_empty());
    assert!(!d.main.has(SubFlags::ISPAUSED));
}

#[test]
fn pause_is_cleared_by_a_new_start() {
    let mut s = running();
    plain(s.command(b'p', false, false, &at(10))).unwrap();
    plain(s.command(b'k', false, false, &at(20))).unwrap();
    plain(s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(2_000)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(2_000)));
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(2_100)));
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
            plain(s.command(c, false, false, &at(10))).unwrap(),
            vec![sig(Sub::Main, 100, want)],
            "{}",
            c as char
        );
        assert_eq!(
            plain(s.command(c, true, true, &at(10))).unwrap(),
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
    assert_eq!(
        plain(s.command(b'z', false, false, &at(10))),
        Err(CmdError::Proto)
    );
    assert_eq!(
        plain(s.command(b'X', false, false, &at(10))),
        Err(CmdError::Proto)
    );
    assert_eq!(s.main.flags, before);
}

#[test]
fn signals_to_a_reset_run() {
    let mut s = running();
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(10)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(10)));
    let a = plain(s.command(b't', false, false, &at(20))).unwrap();
    assert_eq!(
        warns(&a),
        vec!["dropping signal SIGTERM to resetting service web (main)"]
    );
    assert_eq!(a.len(), 1);
    assert!(plain(s.command(b'p', false, false, &at(20)))
        .unwrap()
        .is_empty());
    assert!(!s.main.has(SubFlags::ISPAUSED));
    let a = plain(s.command(b'k', false, false, &at(20))).unwrap();
    assert_eq!(
        warns(&a),
        vec!["sending signal SIGKILL to resetting service web (main)"]
    );
    assert_eq!(a[1], sig(Sub::Main, 101, Sig::Kill));
    // d during reset: TERM dropped, CONT sent, stays down after the reset
    let a = plain(s.command(b'd', false, false, &at(30))).unwrap();
    assert_eq!(
        warns(&a),
        vec![
            "dropping signal SIGTERM to resetting service web (main)",
            "sending signal SIGCONT to resetting service web (main)"
        ]
    );
    assert!(plain(s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(40))).is_empty());
    assert_eq!(s.main.pid, 0);
}

#[test]
fn log_flag_commands_and_logless_service() {
    let mut s = running();
    let a = plain(s.command(b't', true, false, &at(10))).unwrap();
    assert_eq!(a, vec![sig(Sub::Log, 99, Sig::Term)]);
    let (mut n, _) = plain(Service::activate(act(false, false, false), &at(0)));
    plain(n.spawn_result(Sub::Main, SpawnOutcome::Started(5), &at(0)));
    assert!(plain(n.command(b't', true, false, &at(10)))
        .unwrap()
        .is_empty());
    assert!(plain(n.command(b'u', true, false, &at(10)))
        .unwrap()
        .is_empty());
    assert!(plain(n.command(b'o', true, false, &at(10)))
        .unwrap()
        .is_empty());
    // A service without rc.log has no log state to change.
    assert!(n.log().flags.is_empty());
}

#[test]
fn meta_commands() {
    let mut s = running();
    let a = plain(s.command(b'D', false, false, &at(10))).unwrap();
    assert_eq!(
        a,
        vec![
            sig(Sub::Main, 100, Sig::Term),
            sig(Sub::Main, 100, Sig::Cont),
            sig(Sub::Log, 99, Sig::Term),
            sig(Sub::Log, 99, Sig::Cont)
        ]
    );
    assert!(plain(s.command(b'D', true, false, &at(10)))
        .unwrap()
        .is_empty());
    // bring both down, then U starts log before main
    for (sub, pid) in [(Sub::Main, 100), (Sub::Log, 99)] {
        plain(s.child_exited(sub, ExitStatus::Signaled(15), &at(2_000)));
        plain(s.spawn_result(sub, SpawnOutcome::Started(pid + 10), &at(2_000)));
    }
    // main reset ends first; the pipe is NOT closed outside deactivation
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(2_100)));
    assert!(a.is_empty(), "{a:?}");
    assert!(plain(s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(2_100))).is_empty());
    assert!(plain(s.command(b'U', true, false, &at(3_000)))
        .unwrap()
        .is_empty());
    let a = plain(s.command(b'U', false, false, &at(3_000))).unwrap();
    assert_eq!(a, vec![spawn(Sub::Log), spawn(Sub::Main)]);
}

#[test]
fn deactivation_order_main_reset_then_log() {
    let mut s = running();
    let a = plain(s.deactivate(&at(10)));
    assert_eq!(
        a,
        vec![
            sig(Sub::Main, 100, Sig::Term),
            sig(Sub::Main, 100, Sig::Cont)
        ]
    );
    assert!(s.has(ServiceFlags::CULL));
    assert_eq!(
        plain(s.command(b'u', false, false, &at(10))),
        Err(CmdError::Busy)
    );
    // main's start ends -> its reset runs while the logger lives
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Signaled(15), &at(20)));
    assert!(matches!(
        a[0],
        Action::Spawn {
            sub: Sub::Main,
            run: Run::Reset { .. }
        }
    ));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(20)));
    // main's reset ends -> close the pipe, TERM+CONT the logger
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(30)));
    assert_eq!(
        a,
        vec![
            Action::ClosePipe,
            sig(Sub::Log, 99, Sig::Term),
            sig(Sub::Log, 99, Sig::Cont)
        ]
    );
    let a = plain(s.child_exited(Sub::Log, ExitStatus::Signaled(15), &at(40)));
    assert!(matches!(
        a[0],
        Action::Spawn {
            sub: Sub::Log,
            run: Run::Reset { .. }
        }
    ));
    plain(s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(40)));
    assert_eq!(
        plain(s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(50))),
        vec![Action::Remove]
    );
}

#[test]
fn deactivation_with_nothing_running_removes_at_once() {
    let (mut s, _) = plain(Service::activate(act(false, true, false), &at(0)));
    assert_eq!(plain(s.deactivate(&at(10))), vec![Action::Remove]);
}

#[test]
fn deactivation_with_main_down_stops_the_log() {
    let (mut s, _) = plain(Service::activate(act(true, true, false), &at(0)));
    plain(s.spawn_result(Sub::Log, SpawnOutcome::Started(7), &at(0)));
    assert_eq!(
        plain(s.deactivate(&at(10))),
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
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(10)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(10)));
    assert_eq!(
        plain(s.deactivate(&at(20))),
        vec![sig(Sub::Main, 101, Sig::Cont)]
    );
}

#[test]
fn stop_timeout_kills_what_ignores_term() {
    let mut a = act(false, false, false);
    a.stop_timeout = Some(Duration::from_secs(2));
    let (mut s, _) = plain(Service::activate(a, &at(0)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(5), &at(0)));
    plain(s.deactivate(&at(1_000)));
    assert_eq!(s.next_deadline(), Some(Duration::from_secs(3)));
    assert!(plain(s.deadline(&at(2_999))).is_empty());
    let a = plain(s.deadline(&at(3_000)));
    assert_eq!(a.last(), Some(&sig(Sub::Main, 5, Sig::Kill)));
    assert_eq!(warns(&a).len(), 1);
    // the reset run during deactivation gets its own deadline
    plain(s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(3_010)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(6), &at(3_010)));
    assert_eq!(s.next_deadline(), Some(Duration::from_millis(5_010)));
    assert_eq!(
        plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(3_020))),
        vec![Action::Remove]
    );
}

#[test]
fn no_stop_timeout_by_default() {
    let mut s = running();
    plain(s.deactivate(&at(10)));
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn fork_failure_is_retried_after_a_pause() {
    let (mut s, _) = plain(Service::activate(act(false, false, false), &at(0)));
    let a = plain(s.spawn_result(
        Sub::Main,
        SpawnOutcome::ForkFailed("temporary i/o failure (EAGAIN)".into()),
        &at(0),
    ));
    assert_eq!(
        warns(&a),
        vec!["failure fork() for service web: temporary i/o failure (EAGAIN)"]
    );
    assert!(s.main.has(SubFlags::FAILING));
    assert_eq!(s.next_deadline(), Some(RETRY_PAUSE));
    assert_eq!(plain(s.deadline(&at(600))), vec![spawn(Sub::Main)]);
    let a = plain(s.spawn_result(Sub::Main, SpawnOutcome::ForkFailed("x".into()), &at(600)));
    assert_eq!(warns(&a)[1], "pausing on persistent fork() failure...");
    plain(s.deadline(&at(1_200)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(9), &at(1_200)));
    assert!(!s.main.has(SubFlags::FAILING));
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn exec_failure_counts_as_exit_111() {
    let (mut s, _) = plain(Service::activate(act(false, false, false), &at(0)));
    let a = plain(s.spawn_result(
        Sub::Main,
        SpawnOutcome::ExecFailed(" failure execve(): file does not exist (ENOENT)".into()),
        &at(0),
    ));
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
                svsecs: 0,
                fails: None
            }
        }
    );
    // the reset fails the same way; the next start is governed
    let a = plain(s.spawn_result(Sub::Main, SpawnOutcome::ExecFailed("x".into()), &at(5)));
    assert_eq!(warns(&a).len(), 1);
    assert!(!a.contains(&spawn(Sub::Main)));
    assert_eq!(s.main.start_at(), Some(Duration::from_secs(1)));
}

#[test]
fn history_keeps_the_last_exits() {
    let mut s = running();
    for i in 0..(HISTORY_LEN as u64 + 3) {
        let t = 2_000 * (i + 1);
        plain(s.child_exited(Sub::Main, ExitStatus::Exited(i as i32), &at(t)));
        plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(200), &at(t)));
        plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(t + 10)));
        plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(t + 10)));
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
    plain(s.deactivate(&at(10)));
    // logger dies by itself: reset, then it stays down (WANTDOWN)
    plain(s.child_exited(Sub::Log, ExitStatus::Exited(1), &at(20)));
    plain(s.spawn_result(Sub::Log, SpawnOutcome::Started(98), &at(20)));
    assert!(plain(s.child_exited(Sub::Log, ExitStatus::Exited(0), &at(30))).is_empty());
    plain(s.child_exited(Sub::Main, ExitStatus::Signaled(15), &at(40)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(40)));
    assert_eq!(
        plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(50))),
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
    let (mut s, _) = plain(Service::activate(a, &at(0)));
    plain(s.spawn_result(Sub::Log, SpawnOutcome::Started(99), &at(0)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::ForkFailed("x".into()), &at(0)));
    assert_eq!(s.next_deadline(), Some(RETRY_PAUSE));
    plain(s.deactivate(&at(100)));
    // The retry is dropped; the log's stop timeout remains.
    assert_eq!(s.main.next_deadline(), None);
    assert_eq!(s.next_deadline(), Some(Duration::from_millis(5_100)));
}

#[test]
fn state_is_compact() {
    assert_eq!(std::mem::size_of::<SubState>(), 48);
    assert_eq!(std::mem::size_of::<Service>(), 128);
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

/// A service without log whose main start run (pid 100) runs under `policy`.
fn with_policy(policy: Policy) -> Service {
    let (mut s, a) = plain(Service::activate(act(false, false, false), &at(0)));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    s.set_policy(policy);
    assert!(plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0))).is_empty());
    s
}

fn backoff(text: &str) -> Policy {
    Policy {
        backoff: Some(super::super::policy::Backoff::parse(text).unwrap()),
        ..Policy::default()
    }
}

/// Main's start run ends at `ms` and its reset run (pid `reset`) ends right after.
fn crash(s: &mut Service, ms: u64, reset: i32) -> Vec<Action> {
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(ms)));
    assert!(matches!(a[..], [Action::Spawn { .. }]), "{a:?}");
    assert!(plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(reset), &at(ms))).is_empty());
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(ms + 10)))
}

#[test]
fn a_plain_service_allocates_nothing_and_gets_no_svfails() {
    let mut s = with_policy(Policy::default());
    assert!(s.extra.is_none());
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(300)));
    let Action::Spawn {
        run: Run::Reset { fails, .. },
        ..
    } = &a[0]
    else {
        panic!("{a:?}")
    };
    assert_eq!(*fails, None);
    assert_eq!(s.state(&at(300)), StateSection::default());
}

#[test]
fn backoff_waits_past_the_governor_and_the_reset_run_counts() {
    let mut s = with_policy(backoff("100 60 4 0"));
    // First quick failure: wait 1 s, the governor's second anyway: no backoff line.
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(200)));
    assert_eq!(
        a,
        vec![Action::Spawn {
            sub: Sub::Main,
            run: Run::Reset {
                status: ExitStatus::Exited(1),
                svpid: 100,
                svsecs: 0,
                fails: Some(1)
            }
        }]
    );
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(200)));
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(210)));
    assert_eq!(s.main.start_at(), Some(Duration::from_millis(1200)));
    assert_eq!(warns(&a).len(), 1, "{a:?}");
    // Second: 4 s from the end, past the governor.
    plain(s.deadline(&at(1200)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1200)));
    let a = crash(&mut s, 1300, 103);
    assert_eq!(s.main.start_at(), Some(Duration::from_millis(5300)));
    assert_eq!(
        warns(&a),
        ["backoff on 'start' target of service web for 4.000s after 2 quick failures"]
    );
    let st = s.state(&at(1310));
    assert!(st.main.flags.contains(RunFlags::WAITING));
    assert_eq!(st.main.quick, 2);
    assert_eq!(
        st.main.next_start,
        Wall::of(at(1310).wall + Duration::from_millis(3990)).tai()
    );
    // Nothing is due before the wait is over.
    assert!(plain(s.deadline(&at(5000))).is_empty());
    assert_eq!(plain(s.deadline(&at(5300))), vec![spawn(Sub::Main)]);
}

#[test]
fn u_during_a_backoff_wait_starts_now_and_forgets_the_count() {
    let mut s = with_policy(backoff("100 60 4 0"));
    crash(&mut s, 2000, 101);
    plain(s.deadline(&at(3000)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(3000)));
    crash(&mut s, 3100, 103);
    assert_eq!(s.main.start_at(), Some(Duration::from_millis(7100)));
    let a = plain(s.command(b'u', false, false, &at(4500))).unwrap();
    assert_eq!(a, vec![spawn(Sub::Main)]);
    assert_eq!(s.state(&at(4500)).main.quick, 0);
    // Within the governor's second, u waits for the rest of it only.
    let mut s = with_policy(backoff("100 60 4 0"));
    crash(&mut s, 300, 101);
    plain(s.deadline(&at(1000)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1000)));
    crash(&mut s, 1100, 103);
    let a = plain(s.command(b'u', false, false, &at(1500))).unwrap();
    assert!(!a.contains(&spawn(Sub::Main)));
    assert_eq!(s.main.start_at(), Some(Duration::from_millis(2000)));
}

#[test]
fn d_during_a_backoff_wait_cancels_it() {
    let mut s = with_policy(backoff("100 60 4 0"));
    crash(&mut s, 2000, 101);
    plain(s.deadline(&at(3000)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(3000)));
    crash(&mut s, 3100, 103);
    assert!(plain(s.command(b'd', false, false, &at(3200)))
        .unwrap()
        .is_empty());
    assert_eq!(s.next_deadline(), None);
    assert!(!s.state(&at(3200)).main.flags.contains(RunFlags::WAITING));
}

#[test]
fn readiness_counts_the_run_from_ready_and_is_cleared_by_a_new_start() {
    let p = Policy {
        notifies: true,
        ..backoff("100 5 2 0")
    };
    let mut s = with_policy(p);
    assert_eq!(
        s.state(&at(10)).main.flags,
        RunFlags::NOTIFIES,
        "declared, not ready"
    );
    plain(s.ready(&at(8000)));
    let st = s.state(&at(8000));
    assert!(st.main.flags.contains(RunFlags::READY));
    assert_eq!(st.main.ready_at, Wall::of(at(8000).wall).tai());
    // Ran 10 s from exec but only 3 s from ready: quick (RESET 5 s).
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(11_000)));
    assert!(matches!(
        a[0],
        Action::Spawn {
            run: Run::Reset { fails: Some(1), .. },
            ..
        }
    ));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(11_000)));
    plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(11_010)));
    plain(s.deadline(&at(12_010)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(12_010)));
    let st = s.state(&at(12_010));
    assert!(!st.main.flags.contains(RunFlags::READY));
    // A notice during the reset run, or a second one, changes nothing.
    plain(s.ready(&at(13_000)));
    plain(s.ready(&at(14_000)));
    assert_eq!(
        s.state(&at(14_000)).main.ready_at,
        Wall::of(at(13_000).wall).tai()
    );
}

#[test]
fn a_closed_notification_is_logged_once_unless_ready() {
    let mut s = with_policy(Policy {
        notifies: true,
        ..Policy::default()
    });
    let a = plain(s.notification_closed());
    assert_eq!(
        warns(&a),
        ["service web closed its notification descriptor without saying it is ready"]
    );
    assert!(plain(s.notification_closed()).is_empty());
    assert!(s.state(&at(0)).main.flags.contains(RunFlags::SILENT));
    let mut s = with_policy(Policy {
        notifies: true,
        ..Policy::default()
    });
    plain(s.ready(&at(5)));
    assert!(plain(s.notification_closed()).is_empty());
    s.status_text("serving".into());
    assert_eq!(s.state(&at(6)).status, "serving");
}

#[test]
fn quarantine_is_logged_held_and_cleared_by_u() {
    let mut s = with_policy(Policy {
        flap: Some(super::super::policy::Flap::parse("2 30 60").unwrap()),
        ..Policy::default()
    });
    crash(&mut s, 100, 101);
    plain(s.deadline(&at(1000)));
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1000)));
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(1100)));
    assert_eq!(
        warns(&a),
        ["quarantine of service web for 60s: 2 ends within 30s"]
    );
    plain(s.spawn_result(Sub::Main, SpawnOutcome::Started(103), &at(1100)));
    let a = plain(s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(1110)));
    assert!(warns(&a).is_empty(), "logged once: {a:?}");
    assert_eq!(s.main.start_at(), Some(Duration::from_millis(61_100)));
    assert!(s
        .state(&at(1200))
        .main
        .flags
        .contains(RunFlags::QUARANTINED | RunFlags::WAITING));
    assert_eq!(
        plain(s.command(b'u', false, false, &at(5000))).unwrap(),
        vec![spawn(Sub::Main)]
    );
    assert!(!s
        .state(&at(5000))
        .main
        .flags
        .contains(RunFlags::QUARANTINED));
}

#[test]
fn a_saved_service_reads_back_the_same() {
    use super::super::snapshot::{Reader, Writer};
    let p = Policy {
        notifies: true,
        flap: Some(super::super::policy::Flap::parse("5 30 60").unwrap()),
        ..backoff("100 60 4 0.5")
    };
    let (mut s, _) = Service::activate(act(true, false, false), &at(0));
    s.set_policy(p);
    s.spawn_result(Sub::Log, SpawnOutcome::Started(99), &at(0));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0));
    crash(&mut s, 300, 101);
    s.status_text("warming up".into());
    let mut w = Writer::default();
    s.save(&mut w);
    let mut r = Reader::new(&w.buf);
    let back = Service::load(&mut r).unwrap();
    assert!(r.done());
    assert_eq!(format!("{back:?}"), format!("{s:?}"));
    // Every shorter prefix is refused, never misread.
    for n in 0..w.buf.len() {
        assert!(
            Service::load(&mut Reader::new(&w.buf[..n])).is_none(),
            "{n}"
        );
    }
}

/// The events among a transition's actions: (part, kind, pid, status).
fn events(a: &[Action]) -> Vec<(EventSub, EventKind, i32, Option<ExitStatus>)> {
    a.iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some((e.sub, e.kind, e.pid, e.status)),
            _ => None,
        })
        .collect()
}

#[test]
fn events_of_a_run_its_crash_and_its_reset() {
    use EventKind::*;
    use EventSub::{Log, Main};
    let (mut s, a) = Service::activate(act(true, false, false), &at(0));
    assert_eq!(events(&a), [(EventSub::Service, Activated, 0, None)]);
    let a = s.spawn_result(Sub::Log, SpawnOutcome::Started(99), &at(0));
    assert_eq!(events(&a), [(Log, Started, 99, None)]);
    let a = s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0));
    assert_eq!(events(&a), [(Main, Started, 100, None)]);
    let dead = Some(ExitStatus::Signaled(9));
    let a = s.child_exited(Sub::Main, ExitStatus::Signaled(9), &at(200));
    assert_eq!(events(&a), [(Main, Exited, 100, dead)]);
    // The reset run is no start.
    let a = s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(200));
    assert!(events(&a).is_empty());
    // Its end, then the governor's wait: a backoff until one second after the last start.
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(300));
    let ok = Some(ExitStatus::Exited(0));
    assert_eq!(
        events(&a),
        [(Main, ResetDone, 101, ok), (Main, Backoff, 0, None)]
    );
    let Some(Action::Event(b)) = a
        .iter()
        .find(|a| matches!(a, Action::Event(e) if e.kind == Backoff))
    else {
        unreachable!()
    };
    assert_eq!(b.until, Wall::of(at(300).wall + Duration::from_millis(700)));
    // A failed exec is a start that exited 111 at once.
    let a = s.deadline(&at(1000));
    assert_eq!(a, vec![spawn(Sub::Main)]);
    let a = s.spawn_result(Sub::Main, SpawnOutcome::ExecFailed("x".into()), &at(1000));
    assert_eq!(
        events(&a),
        [
            (Main, Started, 0, None),
            (Main, Exited, 0, Some(ExitStatus::Exited(111)))
        ]
    );
}

#[test]
fn events_of_want_down_once_and_deactivation() {
    use EventKind::*;
    use EventSub::Main;
    let mut s = running();
    let a = s.command(b'd', false, false, &at(10)).unwrap();
    assert_eq!(events(&a), [(Main, WantDown, 100, None)]);
    // Already wanting down: nothing new to tell.
    let a = s.command(b'd', false, false, &at(20)).unwrap();
    assert!(events(&a).is_empty());
    // A once run that ends wants down.
    let mut o = running();
    o.command(b'o', false, false, &at(10)).unwrap();
    let a = o.child_exited(Sub::Main, ExitStatus::Exited(0), &at(20));
    assert_eq!(
        events(&a),
        [
            (Main, Exited, 100, Some(ExitStatus::Exited(0))),
            (Main, WantDown, 0, None)
        ]
    );
    // Deactivation is told when it is complete, just before the service is forgotten.
    let (mut d, _) = Service::activate(act(false, true, false), &at(0));
    let a = d.deactivate(&at(10));
    assert_eq!(events(&a), [(EventSub::Service, Deactivated, 0, None)]);
    assert_eq!(a.last(), Some(&Action::Remove));
}

#[test]
fn events_of_readiness_and_quarantine() {
    use EventKind::*;
    use EventSub::Main;
    let mut s = with_policy(Policy {
        notifies: true,
        flap: Some(super::super::policy::Flap::parse("2 30 60").unwrap()),
        ..Policy::default()
    });
    assert_eq!(events(&s.ready(&at(50))), [(Main, Ready, 100, None)]);
    assert!(s.ready(&at(60)).is_empty(), "once per run");
    crash(&mut s, 100, 101);
    s.deadline(&at(1000));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1000));
    s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(1100));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(103), &at(1100));
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(1110));
    assert_eq!(
        events(&a),
        [
            (Main, ResetDone, 103, Some(ExitStatus::Exited(0))),
            (Main, Quarantine, 0, None)
        ]
    );
    let Some(Action::Event(q)) = a.last() else {
        unreachable!()
    };
    assert_eq!(
        q.until,
        Wall::of(at(1110).wall + Duration::from_millis(59_990))
    );
}

#[test]
fn killtree_ends_the_tree_of_a_stopped_main_and_at_the_stop_timeout() {
    let mut a = act(false, false, false);
    a.killtree = true;
    a.stop_timeout = Some(Duration::from_secs(2));
    let (mut s, _) = Service::activate(a, &at(0));
    s.set_tree_mark(0xabc);
    s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0));
    // A crash ends the tree too: nothing the run started outlives it.
    let a = s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(500));
    assert!(a.contains(&Action::KillTree {
        run: 100,
        mark: Some(0xabc)
    }));
    assert!(!s.under_reaper(Sub::Main));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(500));
    s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(510));
    s.deadline(&at(1000));
    s.set_tree_mark(0xdef);
    s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1000));
    // perpctl d, then main ends: its tree goes, found by this run's mark.
    s.command(b'd', false, false, &at(2000)).unwrap();
    let a = s.child_exited(Sub::Main, ExitStatus::Signaled(15), &at(2100));
    assert!(a.contains(&Action::KillTree {
        run: 102,
        mark: Some(0xdef)
    }));
    // Deactivating a main that ignores TERM: the stop timeout kills it and its tree.
    s.spawn_result(Sub::Main, SpawnOutcome::Started(103), &at(2100));
    s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(2110));
    s.command(b'u', false, false, &at(3000)).unwrap();
    s.spawn_result(Sub::Main, SpawnOutcome::Started(104), &at(3000));
    s.deactivate(&at(4000));
    let a = s.deadline(&at(6000));
    assert!(a.contains(&sig(Sub::Main, 104, Sig::Kill)), "{a:?}");
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::KillTree { run: 104, .. })));
    assert!(s.tree(true, 0).killtree);
}

#[test]
fn only_a_start_run_marked_for_it_runs_under_a_reaper() {
    let mut a = act(false, false, false);
    a.killtree = true;
    let (mut s, _) = Service::activate(a, &at(0));
    s.set_tree_mark(0xabc);
    s.spawn_result(Sub::Main, SpawnOutcome::Started(100), &at(0));
    assert!(!s.under_reaper(Sub::Main));
    s.child_exited(Sub::Main, ExitStatus::Exited(1), &at(500));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(101), &at(500));
    // The reset run after it: never under a reaper.
    s.set_tree_mark(0xabc | MARK_REAPER);
    assert!(!s.under_reaper(Sub::Main));
    s.child_exited(Sub::Main, ExitStatus::Exited(0), &at(510));
    s.deadline(&at(1500));
    s.spawn_result(Sub::Main, SpawnOutcome::Started(102), &at(1500));
    assert!(s.under_reaper(Sub::Main));
    assert!(!s.under_reaper(Sub::Log));
}

#[test]
fn strays_are_counted() {
    let (mut s, _) = Service::activate(act(false, false, false), &at(0));
    assert_eq!(s.tree(true, 2).strays, 0);
    s.stray();
    s.stray();
    let t = s.tree(true, 2);
    assert_eq!((t.strays, t.subreaper, t.upgrades), (2, true, 2));
}
