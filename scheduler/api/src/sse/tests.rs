//! The SSE parser against the standard's rules, fed whole and cut at every byte; the
//! stream's silence limit with tokio's paused clock.

use std::convert::Infallible;

use futures_util::stream::{self, StreamExt as _};
use http_body_util::StreamBody;
use hyper::body::Frame;

use super::*;
use crate::{RunState, STREAM_SILENCE};

fn msg(event: &str, data: &str, id: &str) -> SseMessage {
    SseMessage {
        event: event.to_owned(),
        data: data.to_owned(),
        id: id.to_owned(),
    }
}

/// Every event of `input`, fed in one piece.
fn parse(input: &[u8]) -> Vec<SseMessage> {
    let mut p = Parser::default();
    p.feed(input);
    std::iter::from_fn(|| p.take()).collect()
}

/// Every event of `input`, fed in two pieces cut at each position and byte by byte:
/// all must agree with [`parse`].
fn parse_cut_everywhere(input: &[u8]) -> Vec<SseMessage> {
    let whole = parse(input);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        let mut p = Parser::default();
        p.feed(a);
        p.feed(b);
        let got: Vec<_> = std::iter::from_fn(|| p.take()).collect();
        assert_eq!(got, whole, "cut at {cut}");
    }
    let mut p = Parser::default();
    for b in input {
        p.feed(std::slice::from_ref(b));
    }
    let got: Vec<_> = std::iter::from_fn(|| p.take()).collect();
    assert_eq!(got, whole, "byte by byte");
    whole
}

#[test]
fn comments_are_keep_alives_and_blocks_are_events() {
    assert_eq!(parse(b": keep-alive\n\n"), []);
    assert_eq!(
        parse(b"event: dag_run\ndata: {\"a\":1}\n\n"),
        [msg("dag_run", "{\"a\":1}", "")]
    );
}

#[test]
fn events_read_from_sse_blocks_and_half_a_block_waits() {
    let mut p = Parser::default();
    p.feed(b": connected\n\nevent: dag_run\ndata: {\"type\":\"dag_run\",\"dag_id\":\"d\",\"run_id\":\"r\",\"state\":\"running\"}\n\nevent: x\ndata: {\"ty");
    let first = p.take().expect("a block");
    let ev: ApiEvent = serde_json::from_str(&first.data).expect("an event");
    assert_eq!(
        ev,
        ApiEvent::DagRun {
            dag_id: "d".to_owned(),
            run_id: "r".to_owned(),
            state: RunState::Running
        }
    );
    assert_eq!(p.take(), None, "half a block waits for more");
    p.feed(b"pe\":\"lagged\",\"skipped\":3}\n\n");
    assert_eq!(
        p.take(),
        Some(msg("x", "{\"type\":\"lagged\",\"skipped\":3}", ""))
    );
}

#[test]
fn lines_end_with_crlf_lf_or_cr() {
    let want = [msg("dag", "one\ntwo", ""), msg("message", "three", "")];
    for input in [
        &b"event: dag\ndata: one\ndata: two\n\ndata: three\n\n"[..],
        b"event: dag\r\ndata: one\r\ndata: two\r\n\r\ndata: three\r\n\r\n",
        b"event: dag\rdata: one\rdata: two\r\rdata: three\r\r",
        b"event: dag\r\ndata: one\rdata: two\n\r\ndata: three\n\r",
    ] {
        assert_eq!(
            parse_cut_everywhere(input),
            want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn fields_follow_the_standard() {
    let input = "\u{feff}: a comment\n\
        data:no space\n\
        data:  two spaces\n\
        data\n\
        retry: 1000\n\
        unknown: field\n\
        \n\
        id: 7\n\
        event: dag\n\
        data: x\n\
        \n\
        event: named but empty\n\
        \n\
        data: keeps the last id\n\
        \n\
        id\n\
        data: the id emptied\n\
        \n\
        id: a\0b\n\
        data: an id with NUL is ignored\n\
        \n\
        data: the stream ends in the middle of this one\n";
    assert_eq!(
        parse_cut_everywhere(input.as_bytes()),
        [
            msg("message", "no space\n two spaces\n", ""),
            msg("dag", "x", "7"),
            msg("message", "keeps the last id", "7"),
            msg("message", "the id emptied", ""),
            msg("message", "an id with NUL is ignored", ""),
        ]
    );
}

#[test]
fn reconnects_quickly_then_backs_off_to_two_seconds() {
    let waits: Vec<u128> = (1..=6).map(|n| reconnect_delay(n).as_millis()).collect();
    assert_eq!(waits, [250, 500, 1000, 2000, 2000, 2000]);
}

/// A body that sends `chunks`, each after `gap` of quiet, then stays open and silent.
fn body(
    chunks: &'static [&'static str],
    gap: Duration,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send> {
    let timed = stream::iter(chunks).then(move |c| async move {
        tokio::time::sleep(gap).await;
        Ok(Frame::data(Bytes::from_static(c.as_bytes())))
    });
    StreamBody::new(timed.chain(stream::pending()))
}

#[tokio::test(start_paused = true)]
async fn keep_alives_keep_a_quiet_stream_open_and_silence_ends_it() {
    let start = tokio::time::Instant::now();
    let gap = STREAM_SILENCE - Duration::from_secs(5);
    let mut s = EventStream::new(
        body(
            &[
                ": keep-alive\n\n",
                ": keep-alive\n\n",
                "event: dag\ndata: {\"type\":\"dag\",\"dag_id\":\"d\",\"is_paused\":true}\n\n",
                ": keep-alive\n\n",
            ],
            gap,
        ),
        "http://127.0.0.1:1/api/v1/events".to_owned(),
    );
    let ev = s.next_event().await.expect("the stream is alive");
    assert_eq!(
        ev,
        Some(ApiEvent::Dag {
            dag_id: "d".to_owned(),
            is_paused: true
        })
    );
    assert_eq!(start.elapsed(), gap * 3, "two keep-alives kept it open");
    let err = s.next().await.expect_err("silence");
    assert_eq!(
        start.elapsed(),
        gap * 4 + STREAM_SILENCE,
        "the last keep-alive counted too"
    );
    assert_eq!(
        err.to_string(),
        "cannot reach the scheduler's API at http://127.0.0.1:1/api/v1/events: nothing from the scheduler for 45 s"
    );
}

#[tokio::test(start_paused = true)]
async fn events_a_client_cannot_read_are_skipped_and_the_end_is_none() {
    let mut s = EventStream::new(
        StreamBody::new(stream::iter([Ok::<_, Infallible>(Frame::data(
            Bytes::from_static(
                b"event: new_kind\ndata: {\"type\":\"new_kind\"}\n\nevent: lagged\ndata: {\"type\":\"lagged\",\"skipped\":2}\n\nevent: dag\ndata: {\"ty",
            ),
        ))])),
        String::new(),
    );
    assert_eq!(
        s.next_event().await.expect("reads"),
        Some(ApiEvent::Lagged { skipped: 2 })
    );
    assert_eq!(s.next_event().await.expect("reads"), None);
}
