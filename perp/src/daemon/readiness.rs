//! How a service says it is ready, as perpetrate(5) describes it. Pure: file texts and
//! received bytes in, meanings out.
//!
//! * `notification-fd` holds a descriptor number N (s6's convention): rc.main's start run gets
//!   the write end of a pipe on N, and a newline written to it means ready. The pipe closing
//!   without one means "up, never ready": shown and logged, not a reason to restart.
//! * `notify-socket`, an empty file, asks for sd_notify(3)'s protocol: rc.main's start run gets
//!   `NOTIFY_SOCKET` naming a datagram socket perpd bound for it, and `READY=1` means ready;
//!   `STATUS=text` is kept for perpstat; every other assignment (`MAINPID=` among them: perp
//!   supervises the process it started) is ignored.

/// How a service declares readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A pipe on this descriptor of rc.main.
    Fd(i32),
    /// A datagram socket named by `NOTIFY_SOCKET`.
    Socket,
}

/// The longest STATUS text kept (longer ones are cut at a character boundary).
pub const STATUS_MAX: usize = 64;

/// The descriptor number of a `notification-fd` file: 3 to 1023 (0 to 2 are rc.main's standard
/// descriptors, which perpd sets itself).
pub fn notification_fd(text: &str) -> Result<i32, String> {
    let t = text.trim();
    match t.parse::<i32>() {
        Ok(n) if (3..=1023).contains(&n) => Ok(n),
        _ => Err(format!(
            "notification-fd does not hold a descriptor number from 3 to 1023: {t}"
        )),
    }
}

/// What one notification said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    pub ready: bool,
    pub status: Option<String>,
}

/// One sd_notify datagram: newline-separated `KEY=VALUE` assignments.
pub fn datagram(bytes: &[u8]) -> Notice {
    let mut n = Notice::default();
    for line in bytes.split(|&b| b == b'\n') {
        if line == b"READY=1" {
            n.ready = true;
        } else if let Some(text) = line.strip_prefix(b"STATUS=") {
            n.status = Some(cut(&String::from_utf8_lossy(text), STATUS_MAX));
        }
    }
    n
}

/// Whether bytes read from a notification pipe hold the newline that means ready.
pub fn pipe_says_ready(bytes: &[u8]) -> bool {
    bytes.contains(&b'\n')
}

fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_fd_numbers() {
        assert_eq!(notification_fd("3\n"), Ok(3));
        assert_eq!(notification_fd(" 1023 "), Ok(1023));
        for bad in ["", "2", "1024", "x", "-4"] {
            assert!(notification_fd(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn datagrams() {
        assert_eq!(
            datagram(b"READY=1"),
            Notice {
                ready: true,
                status: None
            }
        );
        assert_eq!(
            datagram(b"MAINPID=42\nSTATUS=warming up\nREADY=0"),
            Notice {
                ready: false,
                status: Some("warming up".into())
            }
        );
        assert_eq!(datagram(b"STATUS=").status, Some(String::new()));
        let long = format!("STATUS={}é", "x".repeat(63));
        assert_eq!(datagram(long.as_bytes()).status.unwrap(), "x".repeat(63));
        assert!(!datagram(b"READY=10").ready);
    }

    #[test]
    fn pipes() {
        assert!(pipe_says_ready(b"\n"));
        assert!(pipe_says_ready(b"ok\n"));
        assert!(!pipe_says_ready(b"ok"));
    }
}
