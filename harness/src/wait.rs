//! Bounded waiting for a scenario step: a probe that may fail polled until it holds, through
//! the workspace's one polling loop (`testkit::poll`), with a timeout that becomes the step's
//! failure.

use std::time::Duration;

use crate::R;

/// Poll `probe` until it yields `Some`, failing with `what` once `timeout` has passed; an error
/// from the probe ends the wait at once. The first polls come a millisecond or two apart (the
/// pause doubles up to 20 ms), so a step that measures its wait sees what it measures; the
/// deadline matters only on failure.
pub fn until_some<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> R<Option<T>>,
) -> R<T> {
    let mut outcome = None;
    let _ = testkit::poll(timeout, Duration::from_millis(1), || {
        outcome = probe().transpose();
        outcome.is_some()
    });
    match outcome {
        Some(result) => result,
        None => Err(format!(
            "timed out after {:.1} s waiting for {what}",
            timeout.as_secs_f64()
        )),
    }
}

/// [`until_some`] with a condition.
pub fn until(timeout: Duration, what: &str, mut cond: impl FnMut() -> R<bool>) -> R<()> {
    until_some(timeout, what, || Ok(cond()?.then_some(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_times_out_with_its_reason() {
        let e = until(Duration::from_millis(30), "nothing", || Ok(false)).unwrap_err();
        assert!(e.contains("waiting for nothing"), "{e}");
    }

    #[test]
    fn a_failing_probe_ends_the_wait_with_its_error() {
        let e = until_some::<()>(Duration::from_secs(20), "x", || Err("broken".into()));
        assert_eq!(e, Err("broken".to_string()));
    }

    #[test]
    fn a_value_is_returned() {
        let mut n = 0;
        let v = until_some(Duration::from_secs(20), "three", || {
            n += 1;
            Ok((n == 3).then_some(n))
        });
        assert_eq!(v, Ok(3));
    }
}
