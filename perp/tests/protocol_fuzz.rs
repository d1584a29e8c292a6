//! Random bytes into perp::protocol's decoders: they never panic, never claim more bytes than
//! they were given, and every request they accept re-encodes to the same bytes. Bounded: a
//! fixed number of cases per property (PROPTEST_CASES overrides).

use perp::protocol::{decode_request, DevIno, Frame, History, Reply, Request, Status};
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
}
