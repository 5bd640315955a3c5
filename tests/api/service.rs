//! gRPC health and reflection answer without a token.

use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

use crate::helpers::{TestApp, TWO_TENANTS};

#[tokio::test]
async fn health_answers_serving_without_a_token() {
    let app = TestApp::spawn_toml(TWO_TENANTS).await;
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "textgate.v1.PolicyService"] {
        let resp = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(resp.status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn reflection_lists_and_describes_the_service() {
    let app = TestApp::spawn_toml(TWO_TENANTS).await;
    let mut refl = ServerReflectionClient::new(app.channel().await);
    let requests = tokio_stream::iter(vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol("textgate.v1.PolicyService".into())),
        },
    ]);
    let mut responses = refl.server_reflection_info(requests).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"textgate.v1.PolicyService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected descriptors")
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

/// Replies go out as soon as they are written: accepted connections set
/// TCP_NODELAY. Without it, Nagle's algorithm held the tail of a response
/// until the client's delayed ACK (about 40 ms on Linux): every sequential
/// CheckMessage took over 40 ms instead of about one.
#[tokio::test(flavor = "multi_thread")]
async fn sequential_calls_are_not_held_back_by_nagle() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let req = || crate::decisions::msg("+13125550199", "Your case file is ready.");
    c.check_message(req()).await.expect("warm up");
    let mut slow = 0;
    for _ in 0..40 {
        let t = std::time::Instant::now();
        c.check_message(req()).await.expect("check");
        if t.elapsed() >= std::time::Duration::from_millis(30) {
            slow += 1;
        }
    }
    assert!(slow < 10, "{slow} of 40 sequential calls took 30 ms or more");
}

/// Errors carry the richer-error details (`google.rpc.ErrorInfo` with a
/// stable reason and the domain, `BadRequest` naming the field), and
/// reflection describes those types, so a generic client can decode them.
#[tokio::test]
async fn errors_carry_error_info_that_reflection_describes() {
    use tonic_types::StatusExt;
    let app = TestApp::spawn_toml(TWO_TENANTS).await;
    let mut c = app.client_with(Some("northside-token")).await;
    let bad = textgate::api::pb::GetConsentRequest { phone: "12".into(), ..Default::default() };
    let err = c.get_consent(bad.clone()).await.unwrap_err();
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!((info.reason.as_str(), info.domain.as_str()), ("INVALID_FIELD", "textgate"), "{info:?}");
    assert_eq!(info.metadata.get("field").map(String::as_str), Some("phone"));
    assert!(err.get_details_bad_request().is_some(), "BadRequest too");
    let err = app.client_with(None).await.get_consent(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(err.get_details_error_info().expect("ErrorInfo").reason, "CREDENTIAL_REFUSED");

    let mut refl = ServerReflectionClient::new(app.channel().await);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol("google.rpc.ErrorInfo".into())),
    };
    let mut responses = refl.server_reflection_info(tokio_stream::iter(vec![ask])).await.unwrap().into_inner();
    let answer = responses.next().await.unwrap().unwrap().message_response;
    assert!(matches!(answer, Some(MessageResponse::FileDescriptorResponse(_))), "{answer:?}");
}
