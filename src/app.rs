//! What every handler shares: the live configuration, the auth table, the
//! ledger and the clock. Configuration is swapped atomically on reload.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::api::auth::AuthTable;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::consent::Ledger;
use crate::error::ApiError;

pub struct App {
    pub config: ArcSwap<Config>,
    pub auth: Arc<ArcSwap<AuthTable>>,
    pub ledger: Arc<Ledger>,
    pub clock: SharedClock,
}

impl App {
    pub fn new(config: Config, ledger: Arc<Ledger>, clock: SharedClock) -> App {
        let auth = Arc::new(ArcSwap::from_pointee(AuthTable::from_config(&config)));
        App { config: ArcSwap::from_pointee(config), auth, ledger, clock }
    }

    /// The configuration as of now, checked to contain tenant `id`.
    pub fn config_for(&self, id: &str) -> Result<Arc<Config>, ApiError> {
        let config = self.config.load_full();
        if !config.tenants.contains_key(id) {
            return Err(ApiError::NotFound("tenant_id: no such tenant".into()));
        }
        Ok(config)
    }
}
