//! Property tests of everything the tunnel parses from a peer: frames, answers split into frames,
//! `Open` headers, terminal frames and config durations. No input may panic, and nothing is buffered
//! past the limit a reader was given.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

use crate::frame::{FrameError, MORE, read_answer, read_frame, write_answer};
use crate::protocol::{ControlFrame, Open};
use crate::terminal::{MAX_TERM_FRAME, TermFrame};

/// Runs `fut` to completion on a fresh current-thread runtime.
fn block<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(fut)
}

/// Arbitrary bytes, often starting with a plausible length prefix so the body paths are reached.
fn wire() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        (
            0u32..600,
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..600)
        )
            .prop_map(|(len, more, body)| {
                let len = if more { len | MORE } else { len };
                let mut v = len.to_be_bytes().to_vec();
                v.extend(body);
                v
            }),
    ]
}

fn term_frame() -> impl Strategy<Value = TermFrame> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048).prop_map(TermFrame::Data),
        (any::<u16>(), any::<u16>()).prop_map(|(cols, rows)| TermFrame::Resize { cols, rows }),
        Just(TermFrame::Close),
        any::<i32>().prop_map(TermFrame::Exit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Proves any bytes read as frames, answers or `Open` headers give a value or an error, never a panic or an over-limit read.
    #[test]
    fn peer_bytes_never_panic(bytes in wire()) {
        block(async {
            let (mut a, mut b) = tokio::io::duplex(4096);
            a.write_all(&bytes).await.unwrap();
            drop(a);
            if let Err(FrameError::TooLarge { size, max }) =
                read_frame::<ControlFrame, _>(&mut b, 256).await
            {
                prop_assert!(size > max);
            }
            let (mut a, mut b) = tokio::io::duplex(4096);
            a.write_all(&bytes).await.unwrap();
            drop(a);
            if let Err(FrameError::TooLarge { size, max }) =
                read_answer::<Open, _>(&mut b, 256, 1024).await
            {
                prop_assert!(size > max);
            }
            let _ = serde_json::from_slice::<Open>(&bytes);
            Ok(())
        })?;
    }

    /// Proves any value written as an answer, in chunks of any size, reads back identical.
    #[test]
    fn answers_round_trip_at_any_chunk_size(
        items in prop::collection::vec(".{0,40}", 0..200),
        chunk in 1usize..300,
    ) {
        block(async {
            let (mut a, mut b) = tokio::io::duplex(1 << 20);
            write_answer(&mut a, &items, chunk).await.unwrap();
            let back: Vec<String> = read_answer(&mut b, chunk, 1 << 20).await.unwrap().unwrap();
            prop_assert_eq!(back, items);
            Ok(())
        })?;
    }

    /// Proves terminal frames round-trip, and any bytes read as one give a frame or an error, never a panic.
    #[test]
    fn terminal_frames(frame in term_frame(), bytes in wire()) {
        block(async {
            let (mut a, mut b) = tokio::io::duplex(1 << 16);
            frame.write(&mut a).await.unwrap();
            let back = TermFrame::read(&mut b).await.unwrap().unwrap();
            prop_assert_eq!(back, frame);

            let (mut a, mut b) = tokio::io::duplex(1 << 16);
            a.write_all(&bytes).await.unwrap();
            drop(a);
            if let Ok(Some(TermFrame::Data(d))) = TermFrame::read(&mut b).await {
                prop_assert!(d.len() <= MAX_TERM_FRAME);
            }
            Ok(())
        })?;
    }

    /// Proves any duration text in a config gives a value or an error naming the key, never a panic.
    #[test]
    fn config_durations(text in "[0-9]{0,25}[a-zµ ]{0,4}[0-9]{0,3}") {
        let toml = format!("heartbeat_interval = {text:?}\n");
        match crate::config::parse_toml::<crate::TunnelConfig>(&toml, "test.toml") {
            Ok(cfg) => { let _ = cfg.validate(); }
            Err(e) => prop_assert!(format!("{e:#}").contains("heartbeat_interval"), "{e:#}"),
        }
    }
}
