//! The gRPC surface: `PolicyApi` implements the generated `PolicyService`,
//! authenticates through [`auth`], converts wire types at the edge and maps
//! errors in one place (`crate::error`).

pub mod auth;
mod consent;
pub mod convert;
pub mod limits;

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use crate::app::App;
use crate::error::ApiError;

/// Generated protobuf and gRPC types of `textgate.v1`.
pub mod pb {
    tonic::include_proto!("textgate.v1");
}

/// Encoded descriptors of the API, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/textgate_descriptor.bin"));

/// The PolicyService implementation.
#[derive(Clone)]
pub struct PolicyApi {
    app: Arc<App>,
}

impl PolicyApi {
    pub fn new(app: Arc<App>) -> Self {
        PolicyApi { app }
    }

    /// The tenant a request acts for: its credential plus its `tenant_id`.
    fn tenant<T>(&self, req: &Request<T>, requested: &str) -> Result<String, ApiError> {
        auth::access_of(req)?.tenant(requested, &self.app.auth.load())
    }
}

fn unimplemented_until_engine() -> Status {
    Status::unimplemented("the decision engine is not built yet (issue: decision engine)")
}

#[tonic::async_trait]
impl pb::policy_service_server::PolicyService for PolicyApi {
    async fn check_message(
        &self,
        _req: Request<pb::CheckMessageRequest>,
    ) -> Result<Response<pb::CheckMessageResponse>, Status> {
        Err(unimplemented_until_engine())
    }

    type CheckMessagesStream = consent::EventStreamOf<pb::CheckMessageResponse>;

    async fn check_messages(
        &self,
        _req: Request<Streaming<pb::CheckMessageRequest>>,
    ) -> Result<Response<Self::CheckMessagesStream>, Status> {
        Err(unimplemented_until_engine())
    }

    async fn record_consent(
        &self,
        req: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(consent::record(&self.app, tenant, req.into_inner()).await?))
    }

    async fn process_inbound(
        &self,
        _req: Request<pb::ProcessInboundRequest>,
    ) -> Result<Response<pb::ProcessInboundResponse>, Status> {
        Err(unimplemented_until_engine())
    }

    async fn get_consent(&self, req: Request<pb::GetConsentRequest>) -> Result<Response<pb::ConsentView>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(consent::get(&self.app, tenant, req.into_inner())?))
    }

    type ListConsentEventsStream = consent::EventStreamOf<pb::ConsentEvent>;

    async fn list_consent_events(
        &self,
        req: Request<pb::ListConsentEventsRequest>,
    ) -> Result<Response<Self::ListConsentEventsStream>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(consent::list(&self.app, tenant, req.into_inner())?))
    }

    async fn get_decision(
        &self,
        _req: Request<pb::GetDecisionRequest>,
    ) -> Result<Response<pb::DecisionRecord>, Status> {
        Err(unimplemented_until_engine())
    }
}
