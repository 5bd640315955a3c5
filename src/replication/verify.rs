//! `textgate verify --config` in cluster mode: reads the consent stream from
//! its start up to the position a stopped store applied and compares each
//! message with the store ([`crate::consent::verify_log`] says what must hold).

use std::path::Path;
use std::time::Duration;

use tokio_stream::StreamExt;

use crate::cluster::{Family, Log, ReplicatedRecord, StreamMessage};
use crate::config::ClusterConfig;
use crate::consent::verify_log::{LogCheck, LogReport};

/// How long the stream may stay silent before the comparison gives up.
const MESSAGE_WITHIN: Duration = Duration::from_secs(30);

/// Compares the stopped store in `dir` with the consent stream `config` names.
pub async fn against_stream(dir: &Path, config: &ClusterConfig) -> Result<LogReport, String> {
    let log = Log::connect(config).await.map_err(|e| format!("cannot reach NATS: {}", chain(&e)))?;
    let stream_last = log
        .last_sequence(Family::Consent)
        .await
        .map_err(|e| format!("cannot read the consent stream {}: {}", log.stream_name(Family::Consent), chain(&e)))?;
    let mut check = LogCheck::open(dir, stream_last).map_err(|e| e.to_string())?;
    let up_to = check.compare_up_to();
    if up_to > 0 {
        let mut replay = log.replay_from(Family::Consent, 1).await.map_err(|e| chain(&e))?;
        loop {
            let message = match tokio::time::timeout(MESSAGE_WITHIN, replay.next()).await {
                Err(_) => return Err(format!("the consent stream sent nothing for {MESSAGE_WITHIN:?}")),
                Ok(None) => return Err("the consent stream's replay ended early".into()),
                Ok(Some(m)) => m.map_err(|e| chain(&e))?,
            };
            if message.sequence > up_to {
                break;
            }
            let position = message.sequence;
            compare(&mut check, message).map_err(|e| e.to_string())?;
            if position == up_to {
                break;
            }
        }
    }
    check.finish().map_err(|e| e.to_string())
}

fn compare(check: &mut LogCheck, message: StreamMessage) -> Result<(), crate::consent::ConsentError> {
    let position = message.sequence;
    let record = match ReplicatedRecord::decode(&message.payload) {
        Ok(ReplicatedRecord::ConsentV1(consent)) => consent,
        Ok(other) => {
            check.unreadable(position, &format!("a {other:?} in the consent stream"));
            return Ok(());
        }
        Err(e) => {
            check.unreadable(position, &format!("does not decode: {e}"));
            return Ok(());
        }
    };
    match record.to_event() {
        Ok((event, recorded_at)) => check.check(position, &event, recorded_at),
        Err(e) => {
            check.unreadable(position, &format!("unreadable consent record: {e}"));
            Ok(())
        }
    }
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
