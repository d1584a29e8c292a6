//! Waiting with a deadline. Tests observe real processes, which take their time: a test polls
//! for what it expects instead of sleeping a fixed while, and the deadline only matters when
//! something is broken.

use std::time::{Duration, Instant};

/// How long [`wait_until`] and [`wait_for`] wait: generous, since it only runs out when the
/// awaited thing is never going to happen.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The longest pause between two polls, and the pause of [`within`].
pub const PAUSE: Duration = Duration::from_millis(20);

/// Polls `cond` until it holds (true) or `limit` has passed (false), pausing `first_pause`
/// after the first miss and twice as long after each further one, up to [`PAUSE`]. The
/// workspace's one polling loop: everything else waits through it.
#[must_use = "a wait that runs out is usually a failure"]
pub fn poll(limit: Duration, first_pause: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut pause = first_pause.min(PAUSE);
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(PAUSE);
    }
}

/// Polls `cond` until it holds (true) or `limit` has passed (false), looking every [`PAUSE`].
/// The tests' way to wait: between two looks the program watched gets time to finish what it
/// is doing, and some checks made right after a wait count on that (a start run that has
/// already recorded itself once perpd reports its pid).
#[must_use = "a wait that runs out is usually a failure"]
pub fn within(limit: Duration, cond: impl FnMut() -> bool) -> bool {
    poll(limit, PAUSE, cond)
}

/// Polls `cond` until it holds; fails the test naming `what` if [`DEADLINE`] passes first.
#[track_caller]
pub fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    require(DEADLINE, what, cond);
}

#[track_caller]
fn require(limit: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        within(limit, cond),
        "timed out after {:.1} s waiting for: {what}",
        limit.as_secs_f64()
    );
}

/// Polls `f` until it yields a value, and returns it; fails the test naming `what` if
/// [`DEADLINE`] passes first.
#[track_caller]
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut got = None;
    wait_until(what, || {
        got = f();
        got.is_some()
    });
    got.expect("a value once the wait succeeded")
}

/// A negative claim ("nothing restarts", "no archive appears") can only be watched over a
/// window: polls `cond` for all of `window` and fails the test naming `what` the moment it
/// does not hold. The window is the claim being tested, not a guess at a delay.
#[track_caller]
pub fn assert_stays(window: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    assert!(
        !within(window, || !cond()),
        "no longer true within {window:?}: {what}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_sees_a_condition_that_comes_true() {
        let mut n = 0;
        assert!(within(DEADLINE, || {
            n += 1;
            n == 5
        }));
        assert_eq!(n, 5);
    }

    #[test]
    fn poll_looks_again_soon_at_first() {
        let start = Instant::now();
        let mut n = 0;
        assert!(poll(DEADLINE, Duration::from_millis(1), || {
            n += 1;
            n == 4
        }));
        // Pauses of 1, 2 and 4 ms.
        assert!(start.elapsed() < PAUSE * 3, "{:?}", start.elapsed());
    }

    #[test]
    fn within_gives_up_after_the_limit() {
        let start = Instant::now();
        assert!(!within(Duration::from_millis(50), || false));
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn wait_for_returns_the_value() {
        let mut n = 0;
        assert_eq!(
            wait_for("three", || {
                n += 1;
                (n == 3).then_some("three")
            }),
            "three"
        );
    }

    #[test]
    #[should_panic(expected = "timed out after 0.0 s waiting for: nothing")]
    fn a_wait_that_runs_out_fails_with_the_reason() {
        require(Duration::from_millis(10), "nothing", || false);
    }

    #[test]
    fn assert_stays_passes_a_window_that_holds() {
        assert_stays(Duration::from_millis(30), "true", || true);
    }

    #[test]
    #[should_panic(expected = "no longer true")]
    fn assert_stays_fails_when_the_claim_breaks() {
        let mut n = 0;
        assert_stays(Duration::from_secs(5), "three polls", || {
            n += 1;
            n < 3
        });
    }
}
