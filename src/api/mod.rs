//! The gRPC surface: `PolicyApi` implements the generated `PolicyService`,
//! authenticates through [`auth`], converts wire types at the edge and maps
//! errors in one place (`crate::error`).

pub mod auth;
pub(crate) mod check;
mod checks;
pub(crate) mod consent;
pub mod convert;
pub(crate) mod idempotency;
mod import;
mod inbound;
pub mod limits;
mod outbox;
mod rnd;

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use crate::app::App;
use crate::domain::TenantId;
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
    fn tenant<T>(&self, req: &Request<T>, requested: &str) -> Result<TenantId, ApiError> {
        auth::access_of(req)?.tenant(requested, &self.app.auth.load())
    }
}

#[tonic::async_trait]
impl pb::policy_service_server::PolicyService for PolicyApi {
    async fn check_message(
        &self,
        req: Request<pb::CheckMessageRequest>,
    ) -> Result<Response<pb::CheckMessageResponse>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(check::check(&self.app, tenant, req.into_inner()).await?))
    }

    type CheckMessagesStream = convert::EventStreamOf<pb::CheckMessageResponse>;

    async fn check_messages(
        &self,
        req: Request<Streaming<pb::CheckMessageRequest>>,
    ) -> Result<Response<Self::CheckMessagesStream>, Status> {
        // The interceptor admitted the credential; the stream checks it again
        // whenever the configuration changes.
        let credential = auth::credential_of(&req)?;
        Ok(Response::new(checks::check_stream(Arc::clone(&self.app), credential, req.into_inner())))
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
        req: Request<pb::ProcessInboundRequest>,
    ) -> Result<Response<pb::ProcessInboundResponse>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(inbound::process(&self.app, tenant, req.into_inner()).await?))
    }

    async fn get_consent(&self, req: Request<pb::GetConsentRequest>) -> Result<Response<pb::ConsentView>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(consent::get(&self.app, tenant, req.into_inner()).await?))
    }

    type ListConsentEventsStream = convert::EventStreamOf<pb::ConsentEvent>;

    async fn list_consent_events(
        &self,
        req: Request<pb::ListConsentEventsRequest>,
    ) -> Result<Response<Self::ListConsentEventsStream>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(consent::list(&self.app, tenant, req.into_inner())?))
    }

    async fn get_decision(&self, req: Request<pb::GetDecisionRequest>) -> Result<Response<pb::DecisionRecord>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(check::get_decision(&self.app, tenant, req.into_inner()).await?))
    }

    async fn import_consent(
        &self,
        req: Request<Streaming<pb::RecordConsentRequest>>,
    ) -> Result<Response<pb::ImportSummary>, Status> {
        // As for CheckMessages: checked again whenever the configuration changes.
        let credential = auth::credential_of(&req)?;
        Ok(Response::new(import::import(Arc::clone(&self.app), credential, req.into_inner()).await?))
    }

    async fn record_reassigned_check(
        &self,
        req: Request<pb::RecordReassignedCheckRequest>,
    ) -> Result<Response<pb::RecordReassignedCheckResponse>, Status> {
        let tenant = self.tenant(&req, &req.get_ref().tenant_id)?;
        Ok(Response::new(rnd::record(&self.app, tenant, req.into_inner()).await?))
    }
}
