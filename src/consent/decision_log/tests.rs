use std::os::unix::fs::FileExt;

use super::*;

fn collect(log: &DecisionLog) -> Vec<(String, String, Vec<u8>)> {
    let mut all = Vec::new();
    log.for_each(|t, id, r| {
        all.push((t.to_string(), id.to_string(), r.to_vec()));
        Ok(())
    })
    .unwrap();
    all
}

#[test]
fn a_record_is_readable_at_once_by_its_tenant_only_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = {
        let log = DecisionLog::open(dir.path(), None).unwrap();
        let ids: Vec<String> = (0..500)
            .map(|i| log.append(if i % 2 == 0 { "north" } else { "south" }, 1_000 + i, &[i as u8; 300]).unwrap())
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let (own, other) = if i % 2 == 0 { ("north", "south") } else { ("south", "north") };
            assert_eq!(log.get(own, id).unwrap(), Some(vec![i as u8; 300]), "record {i} at once");
            assert_eq!(log.get(other, id).unwrap(), None, "another tenant never reads it");
        }
        ids
    };
    let log = DecisionLog::open(dir.path(), None).unwrap();
    assert_eq!(log.get("north", &ids[10]).unwrap(), Some(vec![10; 300]), "after reopening");
    let later = log.append("north", 9_999, b"later").unwrap();
    assert_ne!(locate(&later).unwrap().0, locate(&ids[0]).unwrap().0, "a reopened log starts a new segment");
    assert!(later > ids[499], "ids sort by decision time");
    let all = collect(&log);
    assert_eq!(all.len(), 501);
    assert_eq!(all[3], ("south".to_string(), ids[3].clone(), vec![3; 300]));
}

#[test]
fn ids_are_fixed_width_lowercase_hex() {
    assert_eq!(files::decision_id(0x1234, 7, 0xabc), format!("d-{:014x}{:08x}{:010x}", 0x1234, 7, 0xabc));
    assert_eq!(files::decision_id(u64::MAX >> 8, u32::MAX, 1 << 39).len(), files::ID_LEN);
}

#[test]
fn ids_it_did_not_hand_out_are_not_found() {
    let log = DecisionLog::temporary().unwrap();
    let id = log.append("t", 5, b"record").unwrap();
    log.flush();
    let (seg, off) = locate(&id).unwrap();
    let shifted = format!("d-{:014x}{seg:08x}{:010x}", 5, off + 1);
    let wrong_time = format!("d-{:014x}{seg:08x}{off:010x}", 6);
    for bad in [shifted.as_str(), wrong_time.as_str(), "d-0", "", "d-zz000000000000000000000000000000", "x"] {
        assert_eq!(log.get("t", bad).unwrap(), None, "{bad:?}");
    }
    assert_eq!(log.get("t", &id).unwrap().as_deref(), Some(&b"record"[..]));
}

#[test]
fn a_torn_or_corrupt_frame_reads_as_absent_and_ends_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), None).unwrap();
    let ids: Vec<String> = (0..3).map(|i| log.append("t", i, &[7; 64]).unwrap()).collect();
    log.flush();
    let (seg, off) = locate(&ids[1]).unwrap();
    let file = OpenOptions::new().write(true).open(segment_path(dir.path(), seg)).unwrap();
    file.write_all_at(&[0xff], off + 20).unwrap();
    assert_eq!(log.get("t", &ids[1]).unwrap(), None, "a checksum mismatch is not a record");
    assert!(log.get("t", &ids[0]).unwrap().is_some());
    assert!(log.get("t", &ids[2]).unwrap().is_some(), "a lookup by id still finds the frames after it");
    assert_eq!(collect(&log).len(), 1, "a scan stops at the first bad frame of a segment");
}

#[test]
fn appends_from_many_threads_all_land_and_survive_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = DecisionLog::open(dir.path(), None).unwrap();
    let ids: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u8)
            .map(|n| {
                let log = &log;
                s.spawn(move || (0..2000).map(|i| log.append("t", i, &[n; 100]).unwrap()).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    log.close();
    let after = log.append("t", 1, b"after close").unwrap();
    drop(log);
    let log = DecisionLog::open(dir.path(), None).unwrap();
    for (n, ids) in ids.iter().enumerate() {
        for id in ids {
            assert_eq!(log.get("t", id).unwrap(), Some(vec![n as u8; 100]));
        }
    }
    assert_eq!(log.get("t", &after).unwrap().as_deref(), Some(&b"after close"[..]), "written through after close");
    assert_eq!(collect(&log).len(), 8001);
}

#[test]
fn segments_past_the_retention_are_deleted_and_read_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let day = Duration::from_secs(86_400);
    let (old, recent) = {
        let log = DecisionLog::open(dir.path(), None).unwrap();
        (log.append("t", 1, b"old").unwrap(), log.append("t", 2, b"kept").unwrap())
    };
    // Reopened: the first segment is closed; age it by two days.
    let (old_seg, _) = locate(&old).unwrap();
    let path = segment_path(dir.path(), old_seg);
    let newer = {
        let log = DecisionLog::open(dir.path(), None).unwrap();
        log.append("t", 3, b"newer").unwrap()
    };
    File::options().write(true).open(&path).unwrap().set_modified(std::time::SystemTime::now() - 2 * day).unwrap();
    let log = DecisionLog::open(dir.path(), Some(day)).unwrap();
    assert!(!path.exists(), "a closed segment past the retention is deleted at open");
    assert_eq!(log.get("t", &old).unwrap(), None);
    assert_eq!(log.get("t", &recent).unwrap(), None, "its whole segment goes");
    assert_eq!(log.get("t", &newer).unwrap().as_deref(), Some(&b"newer"[..]), "younger segments stay");
}
