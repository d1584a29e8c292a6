//! Turning raw input bytes into log lines (tinylog) and syslog records (sissylog).
//!
//! Decision on bytes 0x80–0xFF: they pass through unchanged. The reference x86-64 binary
//! replaces them by `?` only because it stores bytes in a signed `char`; the man page promises to
//! replace control characters, and UTF-8 log text should survive. Bytes below 0x20 other than
//! TAB become `?`; DEL (0x7F) is kept.

/// The byte as it is logged.
pub fn clean(b: u8) -> u8 {
    if b < 0x20 && b != b'\t' {
        b'?'
    } else {
        b
    }
}

/// Cuts a byte stream into cleaned lines of at most `cap` bytes, dropping empty lines and the
/// excess of long lines (tinylog).
#[derive(Debug)]
pub struct LineCutter {
    buf: Vec<u8>,
    done: Vec<u8>,
    cap: usize,
}

impl LineCutter {
    pub fn new(cap: usize) -> Self {
        LineCutter {
            buf: Vec::with_capacity(cap),
            done: Vec::with_capacity(cap),
            cap,
        }
    }

    /// Consumes `data` up to and including the first newline. Returns how many bytes were used
    /// and, if a non-empty line was completed, the line (without its newline).
    pub fn feed(&mut self, data: &[u8]) -> (usize, Option<&[u8]>) {
        for (i, &b) in data.iter().enumerate() {
            if b == b'\n' {
                return (i + 1, self.take());
            }
            if self.buf.len() < self.cap {
                self.buf.push(clean(b));
            }
        }
        (data.len(), None)
    }

    /// Whether a line has begun and its newline not yet been seen.
    pub fn is_mid_line(&self) -> bool {
        !self.buf.is_empty()
    }

    /// At end of input: the unterminated final fragment, if any.
    pub fn finish(&mut self) -> Option<&[u8]> {
        self.take()
    }

    fn take(&mut self) -> Option<&[u8]> {
        if self.buf.is_empty() {
            return None;
        }
        std::mem::swap(&mut self.buf, &mut self.done);
        self.buf.clear();
        Some(&self.done)
    }
}

/// syslog severities sissylog uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Alert = 1,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// The priority of a line, from its first piece: a case-sensitive prefix, no blanks allowed.
pub fn severity_of(text: &[u8]) -> Severity {
    const PREFIXES: &[(&[u8], Severity)] = &[
        (b"alert:", Severity::Alert),
        (b"error:", Severity::Err),
        (b"warning:", Severity::Warning),
        (b"notice:", Severity::Notice),
        (b"debug:", Severity::Debug),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| text.starts_with(p))
        .map_or(Severity::Info, |&(_, s)| s)
}

/// The largest piece of a line sissylog sends in one record (the `+` of continuations aside).
pub const PIECE: usize = 800;

/// Cuts a byte stream into syslog records: cleaned, empty lines dropped, long lines split into
/// 800-byte pieces, continuations marked with `+` and sharing the first piece's severity.
#[derive(Debug)]
pub struct Splitter {
    buf: Vec<u8>,
    done: Vec<u8>,
    /// The severity of the line being split, once its first piece went out.
    continuing: Option<Severity>,
}

impl Default for Splitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Splitter {
    pub fn new() -> Self {
        Splitter {
            buf: Vec::with_capacity(PIECE + 1),
            done: Vec::with_capacity(PIECE + 1),
            continuing: None,
        }
    }

    /// Consumes `data` until a record is complete. Returns how many bytes were used and the
    /// record, if one is ready.
    pub fn feed(&mut self, data: &[u8]) -> (usize, Option<(Severity, &[u8])>) {
        for (i, &b) in data.iter().enumerate() {
            if b == b'\n' {
                let rec = self.take();
                self.continuing = None;
                return (i + 1, rec.map(|r| (r, &self.done[..])));
            }
            self.buf.push(clean(b));
            if self.buf.len() == PIECE {
                let rec = self.take();
                return (i + 1, rec.map(|r| (r, &self.done[..])));
            }
        }
        (data.len(), None)
    }

    /// At end of input: the pending piece, if any.
    pub fn finish(&mut self) -> Option<(Severity, &[u8])> {
        let rec = self.take();
        self.continuing = None;
        rec.map(|r| (r, &self.done[..]))
    }

    fn take(&mut self) -> Option<Severity> {
        if self.buf.is_empty() {
            return None;
        }
        self.done.clear();
        let sev = match self.continuing {
            Some(s) => {
                self.done.push(b'+');
                s
            }
            None => severity_of(&self.buf),
        };
        self.done.extend_from_slice(&self.buf);
        self.buf.clear();
        self.continuing = Some(sev);
        Some(sev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(cap: usize, input: &[u8], eof: bool) -> Vec<Vec<u8>> {
        let mut c = LineCutter::new(cap);
        let mut out = Vec::new();
        // Feed in awkward chunk sizes to prove chunk boundaries do not matter.
        for chunk in input.chunks(7) {
            let mut d = chunk;
            while !d.is_empty() {
                let (n, l) = c.feed(d);
                if let Some(l) = l {
                    out.push(l.to_vec());
                }
                d = &d[n..];
            }
        }
        if eof {
            if let Some(l) = c.finish() {
                out.push(l.to_vec());
            }
        }
        out
    }

    #[test]
    fn cleaning() {
        assert_eq!(
            lines(1000, b"a\x01b\tc\rd\x7fe\n", false),
            vec![b"a?b\tc?d\x7fe".to_vec()]
        );
        assert_eq!(
            lines(1000, b"caf\xc3\xa9\n", false),
            vec![b"caf\xc3\xa9".to_vec()]
        );
        assert_eq!(lines(1000, b"\0\n", false), vec![b"?".to_vec()]);
    }

    #[test]
    fn empty_lines_dropped_fragment_kept() {
        assert_eq!(
            lines(1000, b"\n\nx\n\ny", true),
            vec![b"x".to_vec(), b"y".to_vec()]
        );
        assert_eq!(lines(1000, b"\r\n", false), vec![b"?".to_vec()]);
        assert!(lines(1000, b"frag", false).is_empty());
    }

    #[test]
    fn mid_line_state() {
        let mut c = LineCutter::new(4);
        assert!(!c.is_mid_line());
        c.feed(b"abcdefg");
        assert!(
            c.is_mid_line(),
            "still mid-line while the excess is discarded"
        );
        assert_eq!(c.feed(b"\n").1, Some(&b"abcd"[..]));
        assert!(!c.is_mid_line());
        c.feed(b"\n");
        assert!(!c.is_mid_line());
    }

    #[test]
    fn long_lines_cut_at_cap() {
        let mut input = vec![b'a'; 1500];
        input.extend_from_slice(b"\nok\n");
        let out = lines(1000, &input, false);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], vec![b'a'; 1000]);
        assert_eq!(out[1], b"ok");
        let out = lines(976, &input, false);
        assert_eq!(out[0].len(), 976);
    }

    fn records(input: &[u8]) -> Vec<(Severity, Vec<u8>)> {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        for chunk in input.chunks(13) {
            let mut d = chunk;
            while !d.is_empty() {
                let (n, r) = s.feed(d);
                if let Some((sev, t)) = r {
                    out.push((sev, t.to_vec()));
                }
                d = &d[n..];
            }
        }
        if let Some((sev, t)) = s.finish() {
            out.push((sev, t.to_vec()));
        }
        out
    }

    #[test]
    fn severities() {
        let got: Vec<Severity> = records(
            b"hello\nerror: bad\nwarning: w\nnotice: n\ndebug: d\nalert: a\n  error: x\nError: y\n",
        )
        .into_iter()
        .map(|r| r.0)
        .collect();
        use Severity::*;
        assert_eq!(
            got,
            vec![Info, Err, Warning, Notice, Debug, Alert, Info, Info]
        );
    }

    #[test]
    fn splitting() {
        let mut line = b"warning:".to_vec();
        line.resize(1700, b'w');
        line.push(b'\n');
        let r = records(&line);
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|x| x.0 == Severity::Warning));
        assert_eq!(r[0].1.len(), 800);
        assert_eq!(r[1].1.len(), 801);
        assert_eq!(r[1].1[0], b'+');
        assert_eq!(r[2].1.len(), 101);
        let r = records(
            &[b'a'; 800]
                .iter()
                .chain(b"\nb\n")
                .copied()
                .collect::<Vec<u8>>(),
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1.len(), 800);
        assert_eq!(r[1].1, b"b");
        let r = records(&[b'a'; 801]);
        assert_eq!(r[1].1, b"+a");
    }

    #[test]
    fn splitting_filters_and_drops_empties() {
        let r = records(b"a\x01b\n\n\n%s\n");
        let texts: Vec<Vec<u8>> = r.into_iter().map(|x| x.1).collect();
        assert_eq!(texts, vec![b"a?b".to_vec(), b"%s".to_vec()]);
    }
}
