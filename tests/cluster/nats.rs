//! A real NATS JetStream cluster on 127.0.0.1 for tests: N nodes, each with
//! its own store directory and free ports, `sync_interval: always` as in
//! production. Nodes can be SIGKILLed and restarted on the same ports and
//! store; every child is killed when the cluster is dropped.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use textgate::config::ClusterConfig;
use textgate::testkit::{free_port, require_tool};

/// How long a node (or the whole cluster) may take to answer JetStream
/// requests after it starts.
const READY_WITHIN: Duration = Duration::from_secs(20);

struct Node {
    client_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

pub struct NatsCluster {
    bin: PathBuf,
    nodes: Vec<Node>,
    // Last, so the children are gone before their directories are removed.
    _dir: TempDir,
}

impl NatsCluster {
    /// Starts `n` nodes and waits until JetStream answers on each; `None`
    /// (after the notice `require_tool` prints) when nats-server is missing.
    /// Ports are picked free and released before a node binds them, so a
    /// parallel test may take one first: a node that exits at start is
    /// retried with new ports (three attempts).
    pub async fn start(n: usize) -> Option<NatsCluster> {
        let bin = require_tool("nats-server", "bash tools/install-test-deps")?;
        for attempt in 1..=3 {
            let mut cluster = NatsCluster::configure(bin.clone(), n);
            for i in 0..n {
                cluster.spawn(i);
            }
            match cluster.try_ready().await {
                Ok(()) => return Some(cluster),
                Err(why) if attempt < 3 => eprintln!("nats cluster attempt {attempt} failed, retrying: {why}"),
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Config files for `n` nodes on fresh free ports.
    fn configure(bin: PathBuf, n: usize) -> NatsCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports.iter().map(|(_, c)| format!("nats-route://127.0.0.1:{c}")).collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, &(client_port, cluster_port))| {
                let store = dir.path().join(format!("n{i}"));
                let text = format!(
                    "server_name: n{i}\nlisten: \"127.0.0.1:{client_port}\"\n\
                     jetstream {{ store_dir: {store:?}, sync_interval: always }}\n\
                     cluster {{ name: textgate-test, listen: \"127.0.0.1:{cluster_port}\", routes: [{}] }}\n",
                    routes.join(", "),
                );
                let config = dir.path().join(format!("n{i}.conf"));
                std::fs::write(&config, text).expect("write nats config");
                Node { client_port, config, log: dir.path().join(format!("n{i}.log")), child: None }
            })
            .collect();
        NatsCluster { bin, nodes, _dir: dir }
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is running");
        let log = OpenOptions::new().create(true).append(true).open(&node.log).expect("open node log");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&node.config)
            .stdout(Stdio::from(log.try_clone().expect("dup log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn nats-server");
        node.child = Some(child);
    }

    /// Client URLs of every node, running or not.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("nats://127.0.0.1:{}", n.client_port)).collect()
    }

    /// A `[cluster]` section naming every node, with `extra` TOML lines.
    pub fn config(&self, instance_id: &str, extra: &str) -> ClusterConfig {
        let text = format!("nats_urls = {:?}\ninstance_id = {instance_id:?}\n{extra}\n", self.urls());
        toml::from_str(&text).expect("a valid [cluster] section")
    }

    /// SIGKILLs node `i` (no lame-duck, no flush) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().expect("SIGKILL nats-server");
            child.wait().expect("reap nats-server");
        }
    }

    /// Starts `nodes` again on their ports and stores, and waits until the
    /// running nodes answer JetStream requests (all at once: one node alone
    /// of three has no quorum to answer).
    pub async fn restart(&mut self, nodes: &[usize]) {
        for &i in nodes {
            self.spawn(i);
        }
        self.wait_ready().await;
    }

    /// Which node a JetStream server name is.
    pub fn index_of(name: &str) -> usize {
        name.strip_prefix('n').and_then(|i| i.parse().ok()).expect("a node name n<i>")
    }

    /// Waits (bounded) until JetStream answers account requests on every
    /// running node: the route mesh is up and a meta leader is elected.
    async fn wait_ready(&mut self) {
        if let Err(why) = self.try_ready().await {
            panic!("{why}");
        }
    }

    /// [`Self::wait_ready`], saying why not (a node that exited, or time).
    async fn try_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            let url = format!("nats://127.0.0.1:{}", node.client_port);
            let Some(child) = node.child.as_mut() else { continue };
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("node {i} exited ({status}); log:\n{}", tail(&node.log)));
                }
                if jetstream_answers(&url).await {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!("node {i} not ready in {READY_WITHIN:?}; log:\n{}", tail(&node.log)));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

async fn jetstream_answers(url: &str) -> bool {
    let connect = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(1)).connect(url);
    let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(2), connect).await else { return false };
    let js = async_nats::jetstream::new(client);
    matches!(tokio::time::timeout(Duration::from_secs(2), js.query_account()).await, Ok(Ok(_)))
}

/// The last lines of a node's log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            if let Some(mut child) = self.nodes[i].child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
