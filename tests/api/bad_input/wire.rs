//! Requests tonic cannot decode — a string that is not UTF-8, groups nested
//! past prost's recursion limit — are the caller's error: INVALID_ARGUMENT
//! naming the field, never INTERNAL, and the server keeps serving.

use bytes::{Buf, BufMut};
use http::uri::PathAndQuery;
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};
use textgate::api::pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::TestApp;

/// Bytes sent as they are, as a client with a bug (or an attacker) would.
#[derive(Debug, Default, Clone)]
struct Raw(Vec<u8>);

impl Message for Raw {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(&mut self, _: u32, _: WireType, _: &mut impl Buf, _: DecodeContext) -> Result<(), DecodeError> {
        unreachable!("only sent")
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

async fn check_raw(app: &TestApp, bytes: Vec<u8>) -> Result<pb::CheckMessageResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<Raw, pb::CheckMessageResponse>::default();
    let path = PathAndQuery::from_static("/textgate.v1.PolicyService/CheckMessage");
    grpc.unary(tonic::Request::new(Raw(bytes)), path, codec).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn undecodable_requests_are_invalid_arguments_naming_the_field() {
    let app = TestApp::spawn().await;
    let valid = pb::CheckMessageRequest {
        from: "+13125550100".into(),
        to: "+13125550199".into(),
        body: "See you Tuesday.".into(),
        origin: pb::Origin::Person as i32,
        dry_run: true,
        ..Default::default()
    }
    .encode_to_vec();
    check_raw(&app, valid.clone()).await.expect("the valid request, sent raw");

    // Field 4 (body), length-delimited, 0xFF 0xFE: not UTF-8. The last
    // occurrence of a field wins, and prost checks each one.
    let mut not_utf8 = valid.clone();
    not_utf8.extend_from_slice(&[4 << 3 | 2, 2, 0xFF, 0xFE]);
    let err = check_raw(&app, not_utf8).await.expect_err("a body that is not UTF-8");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().starts_with("body: cannot be decoded:"), "{err:?}");
    let violations = err.get_details_bad_request().expect("a BadRequest detail").field_violations;
    assert_eq!(violations[0].field, "body");

    // An unknown field 15 opening 200 nested groups: past the recursion limit.
    let mut deep = valid.clone();
    deep.extend(std::iter::repeat_n(15 << 3 | 3, 200));
    deep.extend(std::iter::repeat_n(15 << 3 | 4, 200));
    let err = check_raw(&app, deep).await.expect_err("groups nested 200 deep");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().starts_with("request: cannot be decoded:"), "{err:?}");

    check_raw(&app, valid).await.expect("still serving");
}
