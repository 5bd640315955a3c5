//! Bearer-token authentication and tenant binding.
//!
//! The interceptor turns the `authorization` metadata into an [`Access`] in
//! the request extensions; handlers then resolve the tenant they act for with
//! [`Access::tenant`].
//!
//! Tokens are kept and compared as SHA-256 digests: a configured token is
//! either the token itself or `sha256:<64 hex digits>` of it (so the file need
//! not hold the secret; `textgate hash-token` prints the form). The presented
//! token is hashed once and compared with every known digest in constant time,
//! so neither timing nor length tells which token, or how much of one, matched.

use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::{service::Interceptor, Request, Status};

/// `textgate hash-token`'s digest form, defined with the config that reads it.
pub use crate::config::token::hash_token;
use crate::config::token::token_digest;
use crate::config::Config;
use crate::domain::TenantId;
use crate::error::ApiError;

/// Who the caller may act for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Bound to one tenant.
    Tenant(TenantId),
    /// May act for every tenant ("*" tokens); `tenant_id` must be given.
    Any,
}

/// Tokens and tenants, rebuilt whenever the configuration changes.
#[derive(Debug, Default)]
pub struct AuthTable {
    /// SHA-256 of each token, with what it grants.
    tokens: Vec<([u8; 32], Access)>,
    /// Access of calls without a token, when tokens are optional.
    anonymous: Option<Access>,
    /// The configured tenants, as the ids handlers get.
    tenants: Vec<TenantId>,
}

impl AuthTable {
    pub fn from_config(c: &Config) -> AuthTable {
        // Validation checked that every token's tenant and the default tenant are configured.
        let bound = |tenant: &str| Access::Tenant(TenantId::new(tenant));
        let tokens = c
            .auth
            .tokens
            .iter()
            .map(|(t, tenant)| {
                let access = if tenant == "*" { Access::Any } else { bound(tenant) };
                (token_digest(t), access)
            })
            .collect();
        let anonymous = (!c.auth.require_token).then(|| c.auth.default_tenant.as_deref().map(bound)).flatten();
        AuthTable { tokens, anonymous, tenants: c.tenants.keys().map(|t| TenantId::new(t.as_str())).collect() }
    }

    /// What an `authorization` header grants (the interceptor's path, in one call).
    #[cfg(test)]
    fn check(&self, header: Option<&str>) -> Result<Access, Status> {
        self.access(&Credential::of(header)?)
    }

    /// Whether an HTTP `Authorization` header holds a token that may act for
    /// every tenant ("*"): the operator credential the admin endpoint's
    /// `POST /backup` asks for, since a backup holds every tenant's ledger.
    pub fn is_operator(&self, header: Option<&str>) -> bool {
        header.is_some()
            && Credential::of(header).is_ok_and(|c| self.access(&c).is_ok_and(|access| access == Access::Any))
    }

    /// Every token's digest with what it grants (the console checks a
    /// session's credential against the table in force).
    pub fn grants(&self) -> impl Iterator<Item = (&[u8; 32], &Access)> {
        self.tokens.iter().map(|(d, a)| (d, a))
    }

    /// The configured tenants.
    pub fn tenants(&self) -> &[TenantId] {
        &self.tenants
    }

    /// What a credential grants under this table.
    pub fn access(&self, credential: &Credential) -> Result<Access, Status> {
        let Some(presented) = &credential.0 else {
            return self
                .anonymous
                .clone()
                .ok_or_else(|| ApiError::Unauthenticated("authorization: missing `Bearer <token>` metadata").into());
        };
        // Compare against every token so timing does not reveal which matched.
        let mut found = None;
        for (known, access) in &self.tokens {
            if bool::from(known.ct_eq(presented)) {
                found = Some(access.clone());
            }
        }
        found.ok_or_else(|| ApiError::Unauthenticated("authorization: invalid bearer token").into())
    }
}

/// A caller's credential as presented: the SHA-256 of its bearer token, or
/// none. A stream keeps it to check again when the configuration changes.
#[derive(Clone, Debug)]
pub struct Credential(Option<[u8; 32]>);

impl Credential {
    /// The credential of a bare token (the console's sign-in form).
    pub fn of_token(token: &str) -> Credential {
        Credential(Some(Sha256::digest(token.trim().as_bytes()).into()))
    }

    /// The SHA-256 of the token; None for a call without one.
    pub fn digest(&self) -> Option<&[u8; 32]> {
        self.0.as_ref()
    }

    fn of(header: Option<&str>) -> Result<Credential, Status> {
        let Some(value) = header else { return Ok(Credential(None)) };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Status::from(ApiError::Unauthenticated("authorization: must be `Bearer <token>`")))?
            .trim();
        Ok(Credential(Some(Sha256::digest(token.as_bytes()).into())))
    }
}

impl Access {
    /// The tenant this call acts for, given the request's `tenant_id` field.
    pub fn tenant(&self, requested: &str, table: &AuthTable) -> Result<TenantId, ApiError> {
        match (self, requested) {
            (Access::Tenant(t), "") => Ok(t.clone()),
            (Access::Tenant(t), r) if t.as_str() == r => Ok(t.clone()),
            (Access::Tenant(_), _) => {
                Err(ApiError::PermissionDenied("tenant_id: this credential may not act for that tenant".into()))
            }
            (Access::Any, "") => {
                Err(ApiError::invalid("tenant_id", "required when the credential may act for every tenant"))
            }
            (Access::Any, r) => table
                .tenants
                .iter()
                .find(|t| t.as_str() == r)
                .cloned()
                .ok_or_else(|| ApiError::NotFound("tenant_id: no such tenant".into())),
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
        // Two credentials on one call: which one acts is the proxy's or the
        // library's choice, never the caller's intent. Refuse the call.
        if req.metadata().get_all("authorization").iter().nth(1).is_some() {
            return Err(ApiError::Unauthenticated("authorization: sent more than once").into());
        }
        let header = match req.metadata().get("authorization") {
            Some(v) => {
                Some(v.to_str().map_err(|_| Status::from(ApiError::Unauthenticated("authorization: not text")))?)
            }
            None => None,
        };
        let credential = Credential::of(header)?;
        let access = self.table.load().access(&credential)?;
        req.extensions_mut().insert(access);
        req.extensions_mut().insert(credential);
        Ok(req)
    }
}

/// The access the interceptor attached (absent only if a route skipped it).
pub fn access_of<T>(req: &Request<T>) -> Result<Access, ApiError> {
    req.extensions().get::<Access>().cloned().ok_or(ApiError::Unauthenticated("authorization: no credential"))
}

/// The credential the interceptor read (absent only if a route skipped it).
pub fn credential_of<T>(req: &Request<T>) -> Result<Credential, ApiError> {
    req.extensions().get::<Credential>().cloned().ok_or(ApiError::Unauthenticated("authorization: no credential"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::token::{is_hashed_token, HASH_PREFIX};

    #[test]
    fn tokens_bind_tenants() {
        let c = Config::demo();
        let t = AuthTable::from_config(&c);
        assert_eq!(t.check(Some("Bearer northside-dev-token")).unwrap(), Access::Tenant(TenantId::new("northside")));
        assert_eq!(t.check(Some("Bearer ops-dev-token")).unwrap(), Access::Any);
        assert_eq!(t.check(None).unwrap(), Access::Tenant(TenantId::new("northside")));
        assert_eq!(t.check(Some("Bearer nope")).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(t.check(Some("Basic abc")).unwrap_err().code(), tonic::Code::Unauthenticated);

        let bound = Access::Tenant(TenantId::new("northside"));
        assert_eq!(bound.tenant("", &t).unwrap().as_str(), "northside");
        assert!(matches!(bound.tenant("other", &t), Err(ApiError::PermissionDenied(_))));
        assert!(matches!(Access::Any.tenant("", &t), Err(ApiError::InvalidArgument { .. })));
        assert!(matches!(Access::Any.tenant("ghost", &t), Err(ApiError::NotFound(_))));
        assert_eq!(Access::Any.tenant("northside", &t).unwrap().as_str(), "northside");
    }

    #[test]
    fn hashed_tokens_match_the_token_they_hash_and_nothing_else() {
        let hashed = hash_token("a-long-secret-token");
        assert!(is_hashed_token(&hashed), "{hashed}");
        assert_eq!(hashed.len(), HASH_PREFIX.len() + 64);
        let text = textgate_config(&format!(r#"{{ "{hashed}" = "northside", "plain-token-1" = "*" }}"#));
        let t = AuthTable::from_config(&Config::parse(&text, "t.toml").unwrap());
        assert_eq!(t.check(Some("Bearer a-long-secret-token")).unwrap(), Access::Tenant(TenantId::new("northside")));
        assert_eq!(t.check(Some("Bearer plain-token-1")).unwrap(), Access::Any);
        for wrong in [hashed.as_str(), &hashed[HASH_PREFIX.len()..], "a-long-secret-tokeN", "a-long-secret-token2", ""]
        {
            let err = t.check(Some(&format!("Bearer {wrong}"))).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{wrong:?}");
            assert!(err.message().starts_with("authorization:"), "{err:?}");
        }
        // Upper-case hex is the same digest.
        let upper = format!("{HASH_PREFIX}{}", hashed[HASH_PREFIX.len()..].to_uppercase());
        let text = textgate_config(&format!(r#"{{ "{upper}" = "northside" }}"#));
        let t = AuthTable::from_config(&Config::parse(&text, "t.toml").unwrap());
        assert!(t.check(Some("Bearer a-long-secret-token")).is_ok());
    }

    #[test]
    fn malformed_hashes_are_configuration_errors() {
        for bad in
            ["sha256:abc", "sha256:", &format!("sha256:{}", "g".repeat(64)), &format!("sha256:{}", "a".repeat(65))]
        {
            let text = textgate_config(&format!(r#"{{ "{bad}" = "northside" }}"#));
            let err = Config::parse(&text, "t.toml").unwrap_err().to_string();
            assert!(err.contains("auth.tokens") && err.contains("64 hex digits"), "{bad}: {err}");
            if bad.len() > HASH_PREFIX.len() {
                assert!(!err.contains(bad), "the error must not echo the token: {err}");
            }
        }
    }

    /// The demo configuration with `tokens = <inline table>`.
    fn textgate_config(tokens: &str) -> String {
        let line = r#"tokens = { "northside-dev-token" = "northside", "ops-dev-token" = "*" }"#;
        assert!(crate::config::DEMO_TOML.contains(line));
        crate::config::DEMO_TOML.replace(line, &format!("tokens = {tokens}"))
    }
}
