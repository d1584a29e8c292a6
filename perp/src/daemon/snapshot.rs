//! The byte layout of the state a perpd hands to its next image at an in-place upgrade
//! (perpd(8)): fixed-width little-endian integers and length-prefixed bytes, read back by the
//! same rules. A short or malformed state reads as `None`, never as a panic.

use std::time::Duration;

/// Appends values to a state buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    pub fn duration(&mut self, d: Duration) {
        self.u64(d.as_nanos().try_into().unwrap_or(u64::MAX));
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }
    /// `Some` as 1 and the value, `None` as 0.
    pub fn option<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Writer, T)) {
        self.bool(v.is_some());
        if let Some(v) = v {
            f(self, v);
        }
    }
}

/// Reads values back in the order they were written.
#[derive(Debug)]
pub struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, at: 0 }
    }
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.at..self.at + N)?;
        self.at += N;
        s.try_into().ok()
    }
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    pub fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    pub fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }
    pub fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    pub fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    pub fn f64(&mut self) -> Option<f64> {
        self.u64().map(f64::from_bits)
    }
    pub fn duration(&mut self) -> Option<Duration> {
        self.u64().map(Duration::from_nanos)
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    pub fn option<T>(&mut self, f: impl FnOnce(&mut Reader<'a>) -> Option<T>) -> Option<Option<T>> {
        if self.bool()? {
            f(self).map(Some)
        } else {
            Some(None)
        }
    }
    /// Everything was read.
    pub fn done(&self) -> bool {
        self.at == self.b.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_in_order_and_short_input_is_none() {
        let mut w = Writer::default();
        w.u8(7);
        w.bool(true);
        w.u16(0xbeef);
        w.u32(1 << 31);
        w.i32(-5);
        w.u64(u64::MAX);
        w.i64(i64::MIN);
        w.f64(0.25);
        w.duration(Duration::from_millis(1500));
        w.bytes(b"web");
        w.option(Some(3u32), |w, v| w.u32(v));
        w.option(None::<u32>, |w, v| w.u32(v));
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.bool(), Some(true));
        assert_eq!(r.u16(), Some(0xbeef));
        assert_eq!(r.u32(), Some(1 << 31));
        assert_eq!(r.i32(), Some(-5));
        assert_eq!(r.u64(), Some(u64::MAX));
        assert_eq!(r.i64(), Some(i64::MIN));
        assert_eq!(r.f64(), Some(0.25));
        assert_eq!(r.duration(), Some(Duration::from_millis(1500)));
        assert_eq!(r.bytes(), Some(&b"web"[..]));
        assert_eq!(r.option(|r| r.u32()), Some(Some(3)));
        assert_eq!(r.option(|r| r.u32()), Some(None));
        assert!(r.done());
        assert_eq!(r.u8(), None);
        let mut short = Reader::new(&[5, 0, 0, 0, b'a']);
        assert_eq!(short.bytes(), None);
        assert_eq!(Reader::new(&[2]).bool(), None);
    }
}
