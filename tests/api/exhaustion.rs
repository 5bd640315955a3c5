//! No client, with or without a token, holds the server's memory, file
//! descriptors or connections: health and reflection decode only small
//! requests, a connection holds at most `server.max_concurrent_streams`
//! calls, at most `server.max_connections` connections are open (more are
//! closed on arrival while /healthz keeps answering), and a connection that
//! never speaks is closed after `server.keepalive_timeout`.

use std::time::{Duration, Instant};

use textgate::api::pb::{ConsentLevel, ListConsentEventsRequest};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::ServerReflectionRequest;

use crate::helpers::{http_get, TestApp};

/// A caseworker's dry-run check from `from` (a sender of its tenant).
fn dry_run_check(from: &str) -> textgate::api::pb::CheckMessageRequest {
    textgate::api::pb::CheckMessageRequest {
        from: from.into(),
        to: "+13125550199".into(),
        body: "Your appointment is on Tuesday.".into(),
        origin: textgate::api::pb::Origin::Person as i32,
        dry_run: true,
        ..Default::default()
    }
}

fn with_server(keys: &str) -> String {
    textgate::config::DEMO_TOML.replace("[server]", &format!("[server]\n{keys}"))
}

#[tokio::test]
async fn health_and_reflection_refuse_large_requests_unread() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.channel().await);
    let big = HealthCheckRequest { service: "x".repeat(100_000) };
    let err = health.check(big).await.expect_err("a 100 kB health request");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(err.message(), "request: the message is larger than the 1 KiB limit");
    // The connection and the service stay usable.
    health.check(HealthCheckRequest { service: String::new() }).await.expect("a normal check");

    let mut refl = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol("x".repeat(100_000))),
    };
    // The stream ends without reading the request into an answer (tonic's
    // reflection service stops at a request it cannot decode); before the
    // limit, the server decoded it and answered "not found" in a message.
    if let Ok(stream) = refl.server_reflection_info(tokio_stream::iter(vec![request])).await {
        let answer = stream.into_inner().next().await;
        assert!(!matches!(answer, Some(Ok(_))), "a 100 kB reflection request was read: {answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_connection_holds_at_most_max_concurrent_streams() {
    let app = TestApp::spawn_toml(&with_server("max_concurrent_streams = 3")).await;
    // One channel is one HTTP/2 connection; Watch streams stay open.
    let channel = app.channel().await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut health = HealthClient::new(channel.clone());
        let watch = HealthCheckRequest { service: String::new() };
        let mut stream = health.watch(watch).await.expect("a watch within the limit").into_inner();
        stream.next().await.expect("the first status").expect("status");
        open.push(stream);
    }
    // A fourth call waits for a place on this connection.
    let mut health = HealthClient::new(channel.clone());
    let fourth = health.check(HealthCheckRequest { service: String::new() });
    tokio::pin!(fourth);
    let waited = tokio::time::timeout(Duration::from_millis(500), &mut fourth).await;
    assert!(waited.is_err(), "a fourth stream was served beside three open ones: {waited:?}");
    // It goes through once one of the three ends.
    drop(open.pop());
    let answered = tokio::time::timeout(Duration::from_secs(5), fourth).await;
    answered.expect("served once a place was free").expect("a check");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_closed_and_health_stays_up() {
    let app = TestApp::spawn_toml(&with_server("max_connections = 4\nkeepalive_timeout = \"30s\"")).await;
    // Four silent connections take every place.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    // The server takes its places as it accepts; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(app.addr).await.expect("the kernel accepts");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), fifth.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a fifth connection was kept open: {read:?}");
    let (status, _) = http_get(app.admin, "/healthz").await;
    assert_eq!(status, 200);
    let (_, metrics) = http_get(app.admin, "/metrics").await;
    assert!(metrics.lines().any(|l| l.starts_with("textgate_connections_refused_total ") && !l.ends_with(" 0")));
    assert!(metrics.lines().any(|l| l == "textgate_connections_open 4"), "{metrics}");

    // A place freed is a place a real client gets.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ok = match tonic::transport::Channel::from_shared(format!("http://{}", app.addr)).unwrap().connect().await {
            Ok(channel) => HealthClient::new(channel).check(HealthCheckRequest::default()).await.is_ok(),
            Err(_) => false,
        };
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "no connection served after a place was freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_never_speaks_is_closed() {
    let app = TestApp::spawn_toml(&with_server("keepalive_timeout = \"1s\"")).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    let mut buf = [0u8; 256];
    // The server may send its SETTINGS first; then it must close.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a silent connection was still open after 10 s");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "closed before the timeout: {took:?}");
}

/// A stalled unary call: its headers sent, its body never.
async fn stalled_call(
    h2: &mut h2::client::SendRequest<bytes::Bytes>,
    addr: std::net::SocketAddr,
    token: &str,
) -> (h2::client::ResponseFuture, h2::SendStream<bytes::Bytes>) {
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/textgate.v1.PolicyService/CheckMessage"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    h2.clone().ready().await.expect("h2 ready");
    h2.send_request(request, false).expect("headers sent")
}

fn grpc_status(response: &http::Response<h2::RecvStream>) -> (String, String) {
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (header("grpc-status"), header("grpc-message"))
}

/// One tenant's calls that send headers and never a body neither take the
/// places every tenant shares (it gets its own share, the rest of its calls
/// are refused at once) nor keep theirs: they end at the body timeout.
#[tokio::test(flavor = "multi_thread")]
async fn one_caller_stalling_its_calls_never_starves_another() {
    let keys = "[server]\nmax_in_flight = 8\nmax_in_flight_per_client = 3\nrequest_body_timeout = \"2s\"\n";
    let app = TestApp::spawn_toml(&format!("{keys}{}", crate::helpers::TWO_TENANTS)).await;
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    let (mut h2, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..8 {
        stalled.push(stalled_call(&mut h2, app.addr, "northside-token").await);
    }

    // The other tenant decides as usual meanwhile.
    let mut south = app.client_with(Some("southside-token")).await;
    south.check_message(dry_run_check("+17735550100")).await.expect("another tenant's decision");

    // Five were refused at once, three held until the body timeout.
    let (mut refused, mut timed_out) = (0, 0);
    for (response, _body) in stalled {
        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("every stalled call ends")
            .expect("a response");
        match grpc_status(&response) {
            (code, message) if code == "8" => {
                assert!(message.contains("max_in_flight_per_client"), "{message}");
                refused += 1;
            }
            (code, message) if code == "4" => {
                assert!(message.contains("request_body_timeout"), "{message}");
                timed_out += 1;
            }
            other => panic!("unexpected answer to a stalled call: {other:?}"),
        }
    }
    assert_eq!((refused, timed_out), (5, 3));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(10), "{took:?}");
    // Its places are its own again.
    let mut north = app.client_with(Some("northside-token")).await;
    north
        .get_consent(textgate::api::pb::GetConsentRequest { phone: "+13125550199".into(), ..Default::default() })
        .await
        .expect("the stalling tenant is served again");
}

/// Hundreds of ListConsentEvents streams that are never read park no thread:
/// another reader, a backup and decisions go on meanwhile; each unread
/// stream ends after `server.stream_send_timeout`, and says so at its end
/// instead of passing for a complete listing.
#[tokio::test(flavor = "multi_thread")]
async fn streams_that_are_never_read_hold_no_thread_and_end() {
    const EVENTS: usize = 600;
    const STREAMS: usize = 520; // more than tokio's 512 blocking threads
    let keys = "max_in_flight = 4096\nmax_in_flight_per_client = 4096\nstream_send_timeout = \"3s\"";
    let app = TestApp::spawn_toml(&with_server(keys)).await;
    let client = app.client().await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let mut c = client.clone();
            tokio::spawn(async move {
                for i in (w..EVENTS).step_by(8) {
                    let phone = format!("+1312555{:04}", 1000 + i);
                    let mut event = crate::helpers::grant(&format!("s-{i}"), &phone, ConsentLevel::Express);
                    // Large events: a listing outgrows every buffer on the way.
                    event.evidence.as_mut().unwrap().disclosure_text = "May we text you? ".repeat(200);
                    c.record_consent(event).await.expect("a grant");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let list = || ListConsentEventsRequest::default();
    // Unread streams, over five connections (128 streams each at most).
    let mut channels = Vec::new();
    for _ in 0..5 {
        channels.push(app.client().await);
    }
    let mut unread = Vec::new();
    for i in 0..STREAMS {
        unread.push(channels[i % 5].list_consent_events(list()).await.expect("a listing").into_inner());
    }
    // One more on a connection of its own (the others share theirs, whose
    // flow-control window their unread data fills), with 64 KiB windows (the
    // client's default 2 MiB would take the whole listing unread), to look
    // at once it ended.
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr)).unwrap();
    let small = endpoint.initial_stream_window_size(65_535).initial_connection_window_size(65_535);
    let mut alone = textgate::api::pb::policy_service_client::PolicyServiceClient::new(small.connect().await.unwrap())
        .list_consent_events(list())
        .await
        .expect("a listing")
        .into_inner();
    // Others are served meanwhile: a whole listing, a backup, a decision.
    let within = Duration::from_secs(10);
    let mut reader = app.client().await;
    let all = tokio::time::timeout(within, async {
        let mut stream = reader.list_consent_events(list()).await.expect("a listing").into_inner();
        let mut n = 0;
        while stream.message().await.expect("an event").is_some() {
            n += 1;
        }
        n
    })
    .await
    .expect("a reader is served beside unread streams");
    assert_eq!(all, EVENTS);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.tgb");
    let args = crate::helpers::online_backup_args(app.admin, &file);
    let backup = tokio::time::timeout(within, tokio::task::spawn_blocking(move || crate::process::run(args)))
        .await
        .expect("a backup beside unread streams")
        .unwrap();
    assert_eq!(backup.0, Some(0), "{backup:?}");

    // Past the send timeout, an unread stream gives what was queued, then
    // DEADLINE_EXCEEDED naming the key.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut got = 0;
    let end = tokio::time::timeout(within, async {
        loop {
            match alone.message().await {
                Ok(Some(_)) => got += 1,
                Ok(None) => break None,
                Err(status) => break Some(status),
            }
        }
    })
    .await
    .expect("the unread stream ended");
    drop(unread);
    let end = end.expect("an unread stream ends with an error, not as if complete");
    assert_eq!(end.code(), Code::DeadlineExceeded, "{end:?}");
    assert!(end.message().contains("stream_send_timeout"), "{end:?}");
    assert!(got < EVENTS, "the whole listing was queued for an unread stream: {got}");
}

/// The admin endpoint bounds its connections too: a half-sent request or an
/// idle connection is closed after `server.admin_idle_timeout`, and past
/// `server.admin_max_connections` a new one is closed on arrival, so neither
/// can stop the liveness probe for long.
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_endpoint_closes_silent_connections_and_caps_them() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_toml(&with_server("admin_max_connections = 3\nadmin_idle_timeout = \"1s\"")).await;
    let started = Instant::now();
    let mut half_sent = TcpStream::connect(app.admin).await.expect("connect");
    half_sent.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let mut idle = TcpStream::connect(app.admin).await.expect("connect");
    let mut silent = TcpStream::connect(app.admin).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // All three places taken: a fourth connection is closed at once.
    let mut fourth = TcpStream::connect(app.admin).await.expect("the kernel accepts");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(900), fourth.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a fourth admin connection was kept: {read:?}");
    // The silent ones are closed after the idle timeout, and the probe answers.
    for conn in [&mut half_sent, &mut idle, &mut silent] {
        let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a silent admin connection stayed open: {read:?}");
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before the idle timeout");
    let (status, _) = http_get(app.admin, "/healthz").await;
    assert_eq!(status, 200);
}

/// A call the client gives up on is counted as CANCELLED, not as a server
/// error: a unary call cut by the client's deadline while it waits for its
/// body, and a stream the client drops while answers are still coming.
#[tokio::test(flavor = "multi_thread")]
async fn calls_the_client_abandons_count_as_cancelled() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    // About 1 MB of events: more than the client's 64 KiB windows and the
    // server's send buffers hold, so the listing is still going when dropped.
    for i in 0..300 {
        let mut event =
            crate::helpers::grant(&format!("c-{i}"), &format!("+1312555{:04}", 2000 + i), ConsentLevel::Express);
        event.evidence.as_mut().unwrap().disclosure_text = "May we text you? ".repeat(200);
        client.record_consent(event).await.expect("a grant");
    }
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr)).unwrap();
    let small = endpoint.initial_stream_window_size(65_535).initial_connection_window_size(65_535);
    let mut client = textgate::api::pb::policy_service_client::PolicyServiceClient::new(small.connect().await.unwrap());
    let mut listing =
        client.list_consent_events(ListConsentEventsRequest::default()).await.expect("a listing").into_inner();
    let _ = tokio::time::timeout(Duration::from_millis(50), listing.message()).await;
    drop(listing);
    let (tx, rx) = tokio::sync::mpsc::channel::<textgate::api::pb::CheckMessageRequest>(1);
    let mut stream =
        client.check_messages(tokio_stream::wrappers::ReceiverStream::new(rx)).await.expect("a stream").into_inner();
    tx.send(dry_run_check("+13125550100")).await.unwrap();
    stream.message().await.expect("an answer").expect("one");
    // The client walks away with its request stream still open.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let (_, metrics) = http_get(app.admin, "/metrics").await;
        let done = metrics.lines().any(|l| l.starts_with("textgate_rpc_in_flight{method=\"CheckMessages\"} 0"))
            && metrics.lines().any(|l| l.starts_with("textgate_rpc_in_flight{method=\"ListConsentEvents\"} 0"));
        if done || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let errors: Vec<_> = metrics.lines().filter(|l| l.starts_with("textgate_rpc_errors_total")).collect();
    assert!(!errors.iter().any(|l| l.contains("UNKNOWN") || l.contains("INTERNAL")), "{errors:#?}");
    for method in ["CheckMessages", "ListConsentEvents"] {
        let counted = format!("textgate_rpc_errors_total{{code=\"CANCELLED\",method=\"{method}\"}} 1");
        assert!(errors.iter().any(|l| *l == counted), "{method} not counted CANCELLED: {errors:#?}");
    }
}
