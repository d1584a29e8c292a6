//! Line-oriented files (argfiles, argvfiles, envfiles, limit files; runtools_intro(8)): read
//! without blocking on a writer-less FIFO, split on `\n`, trim C-locale white space, skip
//! blank lines and `#` comments.

use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Where a file's content comes from, and how messages name it.
pub enum Source<'a> {
    Stdin,
    File(&'a OsStr),
}

impl Source<'_> {
    /// `<stdin>` or the file name.
    pub fn display(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_string(),
            Source::File(f) => f.to_string_lossy().into_owned(),
        }
    }
}

/// Whether `b` is C-locale white space.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `s` without leading and trailing white space.
pub fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

pub fn trim_start(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    &s[start..]
}

pub fn trim_end(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| !is_space(b)).map_or(0, |i| i + 1);
    &s[..end]
}

/// Opens `path` read-only and non-blocking (the open may fail: "unable to open").
pub fn open(path: &Path) -> io::Result<std::fs::File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(platform::process::O_NONBLOCK)
        .open(path)
}

/// Reads all of `r` ("error reading" on failure).
pub fn read_all(mut r: impl Read) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    r.read_to_end(&mut data)?;
    Ok(data)
}

/// Why reading a source failed.
pub enum ReadError {
    Open(io::Error),
    Read(io::Error),
}

/// The whole content of `src`.
pub fn read_source(src: &Source) -> Result<Vec<u8>, ReadError> {
    match src {
        Source::Stdin => read_all(io::stdin().lock()).map_err(ReadError::Read),
        Source::File(f) => {
            let file = open(Path::new(f)).map_err(ReadError::Open)?;
            read_all(file).map_err(ReadError::Read)
        }
    }
}

/// Every physical line (1-based number), trimmed and cut at a NUL; blank and comment lines
/// are `None` so that line numbers still count them.
pub fn numbered(data: &[u8]) -> impl Iterator<Item = (usize, Option<&[u8]>)> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let empty = data.is_empty();
    body.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, line)| {
            let line = match line.iter().position(|&b| b == 0) {
                Some(n) => &line[..n],
                None => line,
            };
            let t = trim(line);
            let keep = !t.is_empty() && t[0] != b'#';
            (i + 1, keep.then_some(t))
        })
}

/// The surviving lines, in order.
pub fn content(data: &[u8]) -> Vec<&[u8]> {
    numbered(data).filter_map(|(_, l)| l).collect()
}

/// The surviving lines as arguments (argfile/argvfile: one line, one argument).
pub fn arguments(data: &[u8]) -> Vec<OsString> {
    content(data)
        .into_iter()
        .map(|l| OsString::from_vec(l.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_comments_and_final_line() {
        let data = b"  alpha  \n\n# c\n   # indented\nbeta gamma\n\tdelta\t";
        assert_eq!(
            content(data),
            vec![&b"alpha"[..], &b"beta gamma"[..], &b"delta"[..]]
        );
    }

    #[test]
    fn crlf_and_nul() {
        assert_eq!(content(b"a\r\nb\0c\n"), vec![&b"a"[..], &b"b"[..]]);
    }

    #[test]
    fn numbering_counts_every_line() {
        let n: Vec<_> = numbered(b"# x\n\nA\n").collect();
        assert_eq!(n, vec![(1, None), (2, None), (3, Some(&b"A"[..]))]);
        assert_eq!(numbered(b"").count(), 0);
    }
}
