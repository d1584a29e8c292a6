//! Random bytes into perp::protocol's decoders: they never panic, never claim more bytes than
//! they were given, and every request they accept re-encodes to the same bytes. Bounded: a
//! fixed number of cases per property (PROPTEST_CASES overrides).

use perp::protocol::{
    decode_request, DevIno, Event, EventKind, EventSub, Frame, History, Reply, Request, Status,
    EVENT_LEN, HEADER_LEN, T_EVENT,
};
use platform::child::ExitStatus;
use platform::time::Tai64n;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn request_decoder_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        match decode_request(&buf) {
            Ok(None) => {
                // Incomplete: shorter than the size the header announces.
                prop_assert!(buf.len() < 3 || buf.len() < 3 + buf[2] as usize);
            }
            Ok(Some((req, n))) => {
                prop_assert_eq!(n, buf.len());
                if !matches!(req, Request::Invalid { .. }) {
                    prop_assert_eq!(req.encode(), buf.clone());
                }
            }
            Err(_) => prop_assert!(buf.len() > 3 + buf[2] as usize),
        }
    }

    #[test]
    fn frames_are_sized_by_the_header(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Some((f, n)) = Frame::parse(&buf) {
            prop_assert_eq!(n, 3 + buf[2] as usize);
            prop_assert_eq!(f.payload.len(), buf[2] as usize);
        }
    }

    #[test]
    fn reply_decoders_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(Some((r, n))) = Reply::decode(&buf) {
            prop_assert!(n <= buf.len());
            // What decodes re-encodes to the same frame (status and history keep every byte
            // they interpret; the reserved status bytes are the exception).
            if let Reply::Error(_) = r {
                prop_assert_eq!(r.encode(), buf[..n].to_vec());
            }
        }
        let _ = Status::from_payload(&buf);
        let _ = History::from_payload(&buf);
    }

    #[test]
    fn good_requests_round_trip(dev in any::<u64>(), ino in any::<u64>(), cmd in any::<u8>(), flags in any::<u8>()) {
        let id = DevIno { dev, ino };
        for req in [Request::Query(id), Request::Control { id, command: cmd, flags: perp::protocol::CmdFlags(flags) }] {
            let bytes = req.encode();
            let (back, n) = decode_request(&bytes).unwrap().unwrap();
            prop_assert_eq!(n, bytes.len());
            prop_assert_eq!(back, req);
        }
    }

    /// Any payload framed as an event record: the client's decoder (frame, then record)
    /// never panics, and a record it accepts re-encodes to the bytes it read (the code byte
    /// of a record without a status is not read).
    #[test]
    fn event_records_from_any_bytes(p in proptest::collection::vec(any::<u8>(), 0..=255)) {
        let mut wire = vec![2, T_EVENT, p.len() as u8];
        wire.extend_from_slice(&p);
        match Reply::decode(&wire) {
            Ok(Some((Reply::Event(e), n))) => {
                prop_assert_eq!(n, wire.len());
                prop_assert!(p.len() >= EVENT_LEN);
                let mut want = p[..EVENT_LEN].to_vec();
                if want[42] == 0 {
                    want[43] = 0;
                }
                prop_assert_eq!(e.to_payload().to_vec(), want);
            }
            Ok(Some((other, _))) => prop_assert!(false, "not an event: {:?}", other),
            Ok(None) => prop_assert!(false, "a whole frame is not incomplete"),
            Err(_) => prop_assert!(p.len() < EVENT_LEN || p[36] > 2 || p[42] > 2
                || EventKind::from_byte(p[37]).is_none()),
        }
    }

    /// Valid records sent back to back and read in pieces of any size, as a subscriber reads
    /// them from its socket: each comes out whole and equal, in order.
    #[test]
    fn event_stream_round_trips_in_any_pieces(
        raw in proptest::collection::vec(
            (any::<u64>(), any::<u64>(), any::<u64>(), 0u8..3, 1u8..=11, any::<u32>(),
             0u8..3, any::<u8>(), any::<u64>()), 1..20),
        cuts in proptest::collection::vec(1usize..200, 1..50),
    ) {
        let tain = |s: u64| Tai64n { secs: s >> 2, nanos: (s % 1_000_000_000) as u32 };
        let events: Vec<Event> = raw.iter().map(|&(seq, dev, ino, sub, kind, pid, st, code, t)| Event {
            seq,
            generation: tain(t ^ seq),
            id: DevIno { dev, ino },
            sub: [EventSub::Main, EventSub::Log, EventSub::Service][sub as usize],
            kind: EventKind::from_byte(kind).unwrap(),
            pid,
            status: match st {
                0 => None,
                1 => Some(ExitStatus::Exited(i32::from(code))),
                _ => Some(ExitStatus::Signaled(i32::from(code))),
            },
            when: tain(t),
            until: tain(t.rotate_left(7)),
        }).collect();
        let wire: Vec<u8> = events.iter().flat_map(|e| Reply::Event(*e).encode()).collect();
        prop_assert_eq!(wire.len(), events.len() * (HEADER_LEN + EVENT_LEN));
        let mut inbuf = Vec::new();
        let mut got = Vec::new();
        let mut at = 0;
        let mut cut = cuts.iter().cycle();
        while at < wire.len() {
            let n = (*cut.next().unwrap()).min(wire.len() - at);
            inbuf.extend_from_slice(&wire[at..at + n]);
            at += n;
            while let Some((frame, used)) = Frame::parse(&inbuf) {
                got.push(Reply::from_frame(&frame).unwrap());
                inbuf.drain(..used);
            }
        }
        prop_assert!(inbuf.is_empty());
        let want: Vec<Reply> = events.into_iter().map(Reply::Event).collect();
        prop_assert_eq!(got, want);
    }
}
