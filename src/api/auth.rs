//! Bearer-token authentication and tenant binding.
//!
//! The interceptor turns the `authorization` metadata into an [`Access`] in
//! the request extensions; handlers then resolve the tenant they act for with
//! [`Access::tenant`]. Tokens are compared in constant time.

use std::sync::Arc;

use arc_swap::ArcSwap;
use subtle::ConstantTimeEq;
use tonic::{service::Interceptor, Request, Status};

use crate::config::Config;
use crate::error::ApiError;

/// Who the caller may act for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Bound to one tenant.
    Tenant(String),
    /// May act for every tenant ("*" tokens); `tenant_id` must be given.
    Any,
}

/// Tokens and tenants, rebuilt whenever the configuration changes.
#[derive(Debug, Default)]
pub struct AuthTable {
    tokens: Vec<(Vec<u8>, Access)>,
    /// Access of calls without a token, when tokens are optional.
    anonymous: Option<Access>,
    tenants: Vec<String>,
}

impl AuthTable {
    pub fn from_config(c: &Config) -> AuthTable {
        let tokens = c
            .auth
            .tokens
            .iter()
            .map(|(t, tenant)| {
                let access = if tenant == "*" { Access::Any } else { Access::Tenant(tenant.clone()) };
                (t.as_bytes().to_vec(), access)
            })
            .collect();
        let anonymous = (!c.auth.require_token).then(|| c.auth.default_tenant.clone().map(Access::Tenant)).flatten();
        AuthTable { tokens, anonymous, tenants: c.tenants.keys().cloned().collect() }
    }

    fn check(&self, header: Option<&str>) -> Result<Access, Status> {
        let Some(value) = header else {
            return self
                .anonymous
                .clone()
                .ok_or_else(|| Status::unauthenticated("missing `authorization: Bearer <token>` metadata"));
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("`authorization` metadata must be `Bearer <token>`"))?
            .trim()
            .as_bytes();
        // Compare against every token so timing does not reveal which matched.
        let mut found = None;
        for (known, access) in &self.tokens {
            if bool::from(known.as_slice().ct_eq(token)) {
                found = Some(access.clone());
            }
        }
        found.ok_or_else(|| Status::unauthenticated("invalid bearer token"))
    }
}

impl Access {
    /// The tenant this call acts for, given the request's `tenant_id` field.
    pub fn tenant(&self, requested: &str, table: &AuthTable) -> Result<String, ApiError> {
        match (self, requested) {
            (Access::Tenant(t), "") => Ok(t.clone()),
            (Access::Tenant(t), r) if t == r => Ok(t.clone()),
            (Access::Tenant(_), _) => {
                Err(ApiError::PermissionDenied("tenant_id: this credential may not act for that tenant".into()))
            }
            (Access::Any, "") => {
                Err(ApiError::invalid("tenant_id", "required when the credential may act for every tenant"))
            }
            (Access::Any, r) if table.tenants.iter().any(|t| t == r) => Ok(r.to_string()),
            (Access::Any, _) => Err(ApiError::NotFound("tenant_id: no such tenant".into())),
        }
    }
}

/// Puts the caller's [`Access`] into each request's extensions.
#[derive(Clone)]
pub struct Authenticator {
    pub table: Arc<ArcSwap<AuthTable>>,
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let header = match req.metadata().get("authorization") {
            Some(v) => Some(v.to_str().map_err(|_| Status::unauthenticated("`authorization` is not text"))?),
            None => None,
        };
        let access = self.table.load().check(header)?;
        req.extensions_mut().insert(access);
        Ok(req)
    }
}

/// The access the interceptor attached (absent only if a route skipped it).
pub fn access_of<T>(req: &Request<T>) -> Result<Access, ApiError> {
    req.extensions().get::<Access>().cloned().ok_or(ApiError::Unauthenticated("no credential"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_tenants() {
        let c = Config::demo();
        let t = AuthTable::from_config(&c);
        assert_eq!(t.check(Some("Bearer northside-dev-token")).unwrap(), Access::Tenant("northside".into()));
        assert_eq!(t.check(Some("Bearer ops-dev-token")).unwrap(), Access::Any);
        assert_eq!(t.check(None).unwrap(), Access::Tenant("northside".into()));
        assert_eq!(t.check(Some("Bearer nope")).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(t.check(Some("Basic abc")).unwrap_err().code(), tonic::Code::Unauthenticated);

        let bound = Access::Tenant("northside".into());
        assert_eq!(bound.tenant("", &t).unwrap(), "northside");
        assert!(matches!(bound.tenant("other", &t), Err(ApiError::PermissionDenied(_))));
        assert!(matches!(Access::Any.tenant("", &t), Err(ApiError::InvalidArgument { .. })));
        assert!(matches!(Access::Any.tenant("ghost", &t), Err(ApiError::NotFound(_))));
        assert_eq!(Access::Any.tenant("northside", &t).unwrap(), "northside");
    }
}
