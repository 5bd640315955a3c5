use std::time::Duration;

use super::super::{Config, DEMO_TOML};
use super::*;

const MINIMAL: &str = "[cluster]\nnats_urls = [\"nats://127.0.0.1:4222\"]\ninstance_id = \"textgate-0\"\n";

/// The example file plus a `[cluster]` section.
fn with_cluster(section: &str) -> String {
    format!("{DEMO_TOML}\n{section}")
}

#[test]
fn absent_means_single_node() {
    assert_eq!(Config::demo().cluster, None);
}

#[test]
fn defaults_fill_every_optional_key() {
    let c = Config::parse(&with_cluster(MINIMAL), "t.toml").unwrap().cluster.unwrap();
    assert_eq!(c.nats_urls.0, ["nats://127.0.0.1:4222"]);
    assert_eq!(c.instance_id.0, "textgate-0");
    assert_eq!(c.stream.0, "TEXTGATE");
    assert_eq!(c.replicas, Replicas(3));
    assert_eq!((c.credentials_file, c.tls_ca_file), (None, None));
    assert_eq!(c.publish_timeout.0, Duration::from_secs(5));
    assert_eq!(c.max_apply_lag, 1000);
    assert_eq!(c.duplicate_window.0, Duration::from_secs(120));
    assert_eq!(c.send_retention.0, Duration::from_secs(35 * 86_400));
}

#[test]
fn the_contract_example_loads() {
    // The four contract keys exactly as the shared example writes them.
    let section = r#"
[cluster]
nats_urls = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"]
instance_id = "textgate-0"     # unique per instance (a pod's name)
stream = "TEXTGATE"            # JetStream stream (or stream prefix) holding the ledger
replicas = 3                   # JetStream replicas of that stream
"#;
    let c = Config::parse(&with_cluster(section), "t.toml").unwrap().cluster.unwrap();
    assert_eq!(c.nats_urls.0.len(), 3);
    assert_eq!(c.replicas, Replicas(3));
}

#[test]
fn the_commented_example_block_loads_when_uncommented() {
    let start = DEMO_TOML.find("# [cluster]").expect("the example documents [cluster]");
    let block: String = DEMO_TOML[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or("")))
        .collect();
    let text = format!("{}\n{block}", &DEMO_TOML[..start]);
    let c = Config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}\n{block}")).cluster.unwrap();
    assert_eq!(c.instance_id.0, "textgate-0");
}

/// A key to replace (or `+` to add a line), the line, and the outcome.
type Case<'a> = (&'a str, &'a str, Result<(), &'a [&'a str]>);

#[test]
fn accepts_and_rejects() {
    // (extra lines after MINIMAL, or a replacement of a MINIMAL line; the
    // error must contain every fragment; `@` stands for the line of the key)
    let cases: &[Case] = &[
        ("", "", Ok(())),
        ("nats_urls", "nats_urls = [\"tls://nats.example.org:4222\", \"nats://u:p@10.0.0.1\"]", Ok(())),
        ("nats_urls", "nats_urls = []", Err(&["t.toml:@:", "cluster.nats_urls", "at least one"])),
        ("nats_urls", "nats_urls = [\"http://127.0.0.1:4222\"]", Err(&["t.toml:@:", "nats://"])),
        ("nats_urls", "nats_urls = [\"127.0.0.1:4222\"]", Err(&["t.toml:@:", "nats_urls"])),
        ("nats_urls", "nats_urls = [\"nats://127.0.0.1:4222/x\"]", Err(&["t.toml:@:", "path"])),
        ("nats_urls", "nats_urls = \"nats://127.0.0.1:4222\"", Err(&["t.toml:@:", "nats_urls"])),
        ("nats_urls", "", Err(&["t.toml:", "nats_urls"])),
        ("instance_id", "instance_id = \"\"", Err(&["t.toml:@:", "cluster.instance_id", "1-64"])),
        ("instance_id", "instance_id = \"pod 0\"", Err(&["t.toml:@:", "instance id"])),
        ("instance_id", "instance_id = \"pod.0_a-B\"", Ok(())),
        ("instance_id", "", Err(&["t.toml:", "instance_id"])),
        ("+", "stream = \"LEDGER_EU-1\"", Ok(())),
        ("+", "stream = \"TEXT.GATE\"", Err(&["t.toml:@:", "cluster.stream", "stream name"])),
        ("+", "stream = \"TEXTGATE>\"", Err(&["t.toml:@:", "cluster.stream"])),
        ("+", "stream = \"\"", Err(&["t.toml:@:", "cluster.stream"])),
        ("+", "replicas = 1", Ok(())),
        ("+", "replicas = 5", Ok(())),
        ("+", "replicas = 0", Err(&["t.toml:@:", "cluster.replicas", "1 to 5"])),
        ("+", "replicas = 6", Err(&["t.toml:@:", "cluster.replicas"])),
        ("+", "replicas = -1", Err(&["t.toml:@:", "cluster.replicas"])),
        ("+", "publish_timeout = \"250ms\"", Ok(())),
        ("+", "publish_timeout = \"soon\"", Err(&["t.toml:@:", "cluster.publish_timeout", "bad duration"])),
        ("+", "publish_timeout = \"10ms\"", Err(&["cluster.publish_timeout", "100ms to 60s"])),
        ("+", "publish_timeout = \"2m\"", Err(&["cluster.publish_timeout"])),
        ("+", "duplicate_window = \"10m\"", Ok(())),
        ("+", "duplicate_window = \"2s\"", Err(&["cluster.duplicate_window", "publish_timeout"])),
        ("+", "max_apply_lag = 0", Err(&["cluster.max_apply_lag"])),
        ("+", "max_apply_lag = 50", Ok(())),
        ("+", "send_retention = \"31d\"", Ok(())),
        ("+", "send_retention = \"12h\"", Err(&["cluster.send_retention", "24h"])),
        // The demo's disclosure_interval is 30d: a shorter retention would
        // leave a rebuilt instance without the last disclosure.
        ("+", "send_retention = \"20d\"", Err(&["cluster.send_retention", "30days"])),
        ("+", "credentials_file = \"/run/nats/textgate.creds\"", Ok(())),
        ("+", "tls_ca_file = \"/etc/nats/ca.pem\"", Ok(())),
        ("+", "streem = \"TEXTGATE\"", Err(&["t.toml:@:", "streem"])),
    ];
    for (key, line, want) in cases {
        let section = match *key {
            "+" => format!("{MINIMAL}{line}\n"),
            key => MINIMAL.lines().map(|l| if l.starts_with(key) { line } else { l }).collect::<Vec<_>>().join("\n"),
        };
        let text = with_cluster(&section);
        let at = text.lines().position(|l| !line.is_empty() && l == *line).map_or(0, |i| i + 1);
        match (Config::parse(&text, "t.toml"), want) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(parts)) => {
                let e = e.to_string();
                for part in *parts {
                    let part = part.replace('@', &at.to_string());
                    assert!(e.contains(&part), "{line:?}: {e:?} lacks {part:?}");
                }
            }
            (got, want) => panic!("{line:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn named_files_must_exist_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("textgate.toml");
    let missing = dir.path().join("absent.creds");
    let text = with_cluster(&format!("{MINIMAL}credentials_file = {:?}\n", missing.display().to_string()));
    std::fs::write(&path, &text).unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(e.contains("cluster.credentials_file") && e.contains("absent.creds"), "{e}");
    std::fs::write(&missing, "creds").unwrap();
    assert!(Config::load(&path).unwrap().cluster.unwrap().credentials_file.is_some());
}
