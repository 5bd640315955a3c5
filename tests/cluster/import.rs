//! `textgate import` in cluster mode: imported events go through the
//! consent stream like RecordConsent's, so every instance holds them at the
//! same sequences, and the same file through another instance records
//! nothing twice.

use std::time::{Duration, Instant};

use crate::helpers::list_all;
use crate::instances::setup;

const ROWS: u64 = 2_000;

#[tokio::test(flavor = "multi_thread")]
async fn an_import_through_one_instance_is_on_every_instance_once() {
    let Some((root, _nats, a, b)) = setup().await else { return };
    let file = root.path().join("import.csv");
    let mut text = String::from("event_id,phone,action,level\n");
    for i in 0..ROWS {
        let npa = [312, 212, 415, 305][(i % 4) as usize];
        text += &format!("c-{i},+1{npa}555{:04},grant,express\n", 100 + (i / 4) % 100);
    }
    text += "c-bad,+13125550101,grant,\n"; // a grant needs a level
    text += "c-stop,+13125550100,revoke,\n"; // the first number, revoked after its grants
    std::fs::write(&file, text).unwrap();

    let (code, out, err) = crate::process::import_csv(a.server().addr, &file);
    assert_eq!(code, Some(4), "{out}{err}");
    let want = format!("{} rows: {} accepted, 0 duplicates, 1 rejected", ROWS + 2, ROWS + 1);
    assert!(out.contains(&want) && out.contains("line 2002: level"), "{want}: {out}");

    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let on_a = list_all(&mut ca, "").await;
    assert_eq!(on_a.len() as u64, ROWS + 1);
    assert_eq!(on_a.last().unwrap().event_id, "c-stop", "in file order");
    let started = Instant::now();
    loop {
        let on_b = list_all(&mut cb, "").await;
        if on_b == on_a {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "B holds {} of A's {} events", on_b.len(), on_a.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (code, out, err) = crate::process::import_csv(b.server().addr, &file);
    assert_eq!(code, Some(4), "{out}{err}");
    let want = format!("{} rows: 0 accepted, {} duplicates, 1 rejected", ROWS + 2, ROWS + 1);
    assert!(out.contains(&want), "{want}: {out}");
    assert_eq!(list_all(&mut ca, "").await, on_a, "nothing recorded twice");
}
