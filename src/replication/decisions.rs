//! GetDecision from any instance. Decisions are logged where they were made
//! (the decision log stays local: it is large and only audits read it); an
//! instance that does not hold one asks the others over NATS request-reply,
//! and the one that holds it answers. A decision id names its time (in
//! microseconds) and, sealed under the minting instance's key, the segment
//! and offset in its log: only that instance opens it to a record (the others
//! open it to a place that holds no frame of that id). Two instances could
//! in principle mint the same id within the same microsecond; the tenant is
//! part of the question, and the first answer wins.

use std::sync::Arc;
use std::time::Duration;

use super::Replication;
use crate::domain::TenantId;

/// How long a look-up waits for another instance's answer.
const ASK_WITHIN: Duration = Duration::from_secs(2);

/// `tenant 0x00 decision_id`: the question on the wire.
fn question(tenant: &str, decision_id: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(tenant.len() + 1 + decision_id.len());
    q.extend_from_slice(tenant.as_bytes());
    q.push(0);
    q.extend_from_slice(decision_id.as_bytes());
    q
}

impl Replication {
    /// A decision record logged by another instance, if one answers.
    pub async fn find_decision(&self, tenant: &TenantId, decision_id: &str) -> Option<Vec<u8>> {
        self.log.ask_decision(question(tenant.as_str(), decision_id), ASK_WITHIN).await.map(|b| b.to_vec())
    }
}

/// Answers the other instances' look-ups from this instance's decision log.
pub async fn serve(r: Arc<Replication>) {
    let ledger = Arc::clone(&r.ledger);
    let answer = move |q: &[u8]| {
        let at = q.iter().position(|b| *b == 0)?;
        let tenant = TenantId::new(std::str::from_utf8(&q[..at]).ok()?);
        let id = std::str::from_utf8(&q[at + 1..]).ok()?;
        ledger.decision(&tenant, id).ok().flatten()
    };
    loop {
        if let Err(e) = r.log.serve_decisions(answer.clone()).await {
            tracing::debug!(error = &e as &dyn std::error::Error, "decision look-ups: retrying");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
