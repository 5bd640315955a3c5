//! What every handler shares: the live configuration and compiled policy, the
//! auth table, the ledger, the clock, and per-recipient locks. Configuration
//! and policy are swapped atomically on reload.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::MutexGuard;

use crate::api::auth::AuthTable;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::consent::{ConsentError, Ledger, Recorded};
use crate::domain::{Action, NewEvent, RndAnswer, TenantId};
use crate::error::ApiError;
use crate::locks::{KeyLocks, RecipientLocks};
use crate::metrics::Metrics;
use crate::phone::PhoneNumber;
use crate::policy::{Policy, RulePack, TenantPolicy};
use crate::replication::{Replication, Token};
use crate::telemetry::PhoneHasher;

/// A submitted consent write: the recorded event and its consistency token
/// once it is durable.
pub type PendingWrite =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(Recorded, String), ApiError>> + Send>>;

pub struct App {
    pub config: ArcSwap<Config>,
    pub policy: ArcSwap<Policy>,
    pub pack: Arc<RulePack>,
    pub auth: Arc<ArcSwap<AuthTable>>,
    pub ledger: Arc<Ledger>,
    pub clock: SharedClock,
    /// Prometheus series; reload failures are counted there.
    pub metrics: Arc<Metrics>,
    /// Hashes phone numbers for spans and logs; its key is fixed at start.
    pub phone_hash: PhoneHasher,
    /// Cluster mode: the ledger shared through the replicated log. None:
    /// a single node, whose ledger is the only one.
    pub replication: Option<Arc<Replication>>,
    /// Shared with the cluster applier of send facts.
    pub locks: Arc<RecipientLocks>,
    /// CheckMessage idempotency keys (taken before `locks`).
    pub key_locks: KeyLocks,
}

impl App {
    pub fn new(
        config: Config,
        pack: Arc<RulePack>,
        ledger: Arc<Ledger>,
        clock: SharedClock,
        metrics: Arc<Metrics>,
    ) -> Result<App, String> {
        let policy = Policy::compile(&config, Arc::clone(&pack))?;
        metrics.policy_installed(&policy.version);
        let auth = Arc::new(ArcSwap::from_pointee(AuthTable::from_config(&config)));
        let phone_hash = PhoneHasher::from_config(config.telemetry.phone_hash_key.as_deref());
        Ok(App {
            config: ArcSwap::from_pointee(config),
            policy: ArcSwap::from_pointee(policy),
            pack,
            auth,
            ledger,
            clock,
            metrics,
            phone_hash,
            replication: None,
            locks: Arc::default(),
            key_locks: KeyLocks::default(),
        })
    }

    /// Runs in cluster mode: consent writes go through `replication`.
    pub fn with_replication(mut self, replication: Arc<Replication>) -> App {
        self.replication = Some(replication);
        self
    }

    /// Records a consent event, on this node's ledger or (cluster mode)
    /// through the replicated log, with the `consistency_token` to return.
    pub async fn record(&self, event: NewEvent) -> Result<(Recorded, String), ApiError> {
        // Only grants (and RND answers that void nothing) can be refused
        // for room: revocations, wrong-number reports, review holds and RND
        // YES answers only ever stop sends.
        if matches!(event.action, Action::Grant(_) | Action::Rnd(RndAnswer::No | RndAnswer::NoData)) {
            self.room_for_grant(&event)?;
        }
        match &self.replication {
            None => {
                let recorded = self.ledger.record(event).await?;
                let token = recorded.event.sequence.to_string();
                Ok((recorded, token))
            }
            Some(replication) => {
                let written = replication.record(event).await?;
                Ok((written.recorded, written.position.to_string()))
            }
        }
    }

    /// Queues a consent write (single node) or sends it to the log (cluster
    /// mode) and returns at once, with the future of [`App::record`]'s answer.
    /// Writes submitted one after the other are recorded in that order, so a
    /// bulk import keeps its file's order while many writes await their
    /// fsync together. A grant without room is refused here, as `record` does.
    pub async fn submit(&self, event: NewEvent) -> Result<PendingWrite, ApiError> {
        if matches!(event.action, Action::Grant(_)) {
            self.room_for_grant(&event)?;
        }
        match &self.replication {
            None => {
                let answer = self.ledger.submit(event).await?;
                Ok(Box::pin(async move {
                    let recorded = answer
                        .await
                        .map_err(|_| ConsentError::Unavailable("ledger stopped before the write".into()))??;
                    let token = recorded.event.sequence.to_string();
                    Ok((recorded, token))
                }))
            }
            Some(replication) => {
                let pending = replication.submit(event).await?;
                Ok(Box::pin(async move {
                    let written = pending.await?;
                    Ok((written.recorded, written.position.to_string()))
                }))
            }
        }
    }

    /// Whether a grant may be stored: it is refused when the disk is down to
    /// its reserve (a full disk would latch the store against every write,
    /// opt-outs too: `consent::disk_reserve`) or the tenant is at its quota
    /// (so one tenant fills neither the disk nor the consent index for the
    /// others). Revocations and review holds never come here: always taken.
    fn room_for_grant(&self, event: &NewEvent) -> Result<(), ApiError> {
        if let Some(free_bytes) = self.ledger.disk_reserve_reached() {
            return Err(ConsentError::DiskReserve { free_bytes }.into());
        }
        let tenant = &event.tenant_id;
        let config = self.config_for(tenant)?;
        let Some(quota) = config.tenants.get(tenant.as_str()) else { return Ok(()) };
        let used = self.ledger.usage(tenant)?;
        if used.event_bytes >= quota.max_ledger_mib.saturating_mul(1 << 20) {
            return Err(ApiError::ResourceExhausted(format!(
                "tenants.{tenant}.max_ledger_mib: the tenant's consent events fill its {} MiB; only revocations \
                 are recorded until the quota is raised",
                quota.max_ledger_mib
            )));
        }
        if used.numbers >= quota.max_numbers && self.ledger.consent(tenant, &event.phone)?.is_none() {
            return Err(ApiError::ResourceExhausted(format!(
                "tenants.{tenant}.max_numbers: the tenant holds consent for {} numbers, its quota; grants for \
                 numbers already on record and revocations are still recorded",
                used.numbers
            )));
        }
        Ok(())
    }

    /// Checks a request's `consistency_token` and, in cluster mode, waits
    /// (bounded) until this instance has applied the write it names. A single
    /// node has applied every write it acknowledged.
    pub async fn read_after(&self, tenant: &TenantId, token: &str) -> Result<(), ApiError> {
        if token.is_empty() {
            return Ok(());
        }
        let token = Token::parse(token)
            .ok_or_else(|| ApiError::invalid("consistency_token", "not a token returned by this service"))?;
        let Some(replication) = &self.replication else { return Ok(()) };
        let late = || {
            ApiError::Unavailable(
                "consistency_token: this instance has not applied the write it names in time; retry, or read \
                 from another instance"
                    .into(),
            )
        };
        let within = replication.read_timeout();
        replication.wait_for(token.position, within).await.map_err(|_| late())?;
        if let Some(decision) = token.decision {
            if !replication.wait_for_send(tenant, decision, within).await {
                return Err(late());
            }
        }
        Ok(())
    }

    /// Installs a new configuration atomically; calls in flight finish on the
    /// policy they started with.
    pub fn install(&self, config: Config) -> Result<(), String> {
        let policy = Policy::compile(&config, Arc::clone(&self.pack))?;
        self.auth.store(Arc::new(AuthTable::from_config(&config)));
        self.metrics.policy_installed(&policy.version);
        self.policy.store(Arc::new(policy));
        self.config.store(Arc::new(config));
        Ok(())
    }

    /// The compiled policy as of now, with tenant `id` checked to exist.
    pub fn policy_for(&self, id: &TenantId) -> Result<Arc<Policy>, ApiError> {
        let policy = self.policy.load_full();
        if !policy.tenants.contains_key(id.as_str()) {
            return Err(ApiError::NotFound("tenant_id: no such tenant".into()));
        }
        Ok(policy)
    }

    /// Serializes work on one recipient of one tenant.
    pub async fn lock_recipient(&self, tenant: &TenantId, phone: &PhoneNumber) -> MutexGuard<'_, ()> {
        self.locks.lock(tenant, phone).await
    }

    /// The configuration as of now, checked to contain tenant `id`.
    pub fn config_for(&self, id: &TenantId) -> Result<Arc<Config>, ApiError> {
        let config = self.config.load_full();
        if !config.tenants.contains_key(id.as_str()) {
            return Err(ApiError::NotFound("tenant_id: no such tenant".into()));
        }
        Ok(config)
    }
}

/// Looks up a tenant in a policy already checked by [`App::policy_for`].
pub fn tenant_of<'a>(policy: &'a Policy, id: &TenantId) -> Result<&'a TenantPolicy, ApiError> {
    policy.tenants.get(id.as_str()).ok_or_else(|| ApiError::NotFound("tenant_id: no such tenant".into()))
}
