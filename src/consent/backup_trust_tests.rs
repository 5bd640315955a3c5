//! Backups that were edited, or that lie about their lengths.

use sha2::{Digest, Sha256};

use super::*;
use crate::consent::backup_key::MAGIC_V1;

/// `bytes` with its last 32 bytes replaced by the plain SHA-256 of the rest,
/// as anyone editing a file can do.
fn rechecksummed(mut bytes: Vec<u8>) -> Vec<u8> {
    let end = bytes.len() - 32;
    let digest = Sha256::digest(&bytes[..end]);
    bytes[end..].copy_from_slice(&digest);
    bytes
}

/// Where `needle` first appears in `bytes`.
fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).expect("present")
}

#[tokio::test]
async fn an_edited_backup_with_a_recomputed_checksum_is_refused() {
    let (src, files) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bytes = backed_up(src.path()).await;
    assert_eq!(&bytes[..MAGIC.len() + 1], b"textgate-backup 2\nK", "written with the key: keyed");

    // A decision record edited, the checksum fixed: the HMAC catches it.
    let mut edited = bytes.clone();
    let at = find(&edited, DECISION);
    edited[at] ^= 0x20;
    let file = save(files.path(), &rechecksummed(edited.clone()));
    let target = files.path().join("edited");
    let e = restore(&file, &target, false, keyed(&key())).expect_err("an edited backup");
    assert!(e.to_string().contains("HMAC does not match"), "{e}");
    assert!(!target.exists(), "nothing written");
    let other = BackupKey::new(&[b'x'; 32]).unwrap();
    let e = restore(&save(files.path(), &bytes), &target, false, keyed(&other)).expect_err("another key");
    assert!(e.to_string().contains("HMAC does not match"), "{e}");

    // Passed off as a file without a key: refused unless the operator says so.
    edited[MAGIC.len()] = b'U';
    let file = save(files.path(), &rechecksummed(edited));
    let e = restore(&file, &target, false, keyed(&key())).expect_err("unkeyed");
    assert!(e.to_string().contains("--unauthenticated"), "{e}");
    assert!(!target.exists(), "nothing written");
}

#[tokio::test]
async fn backups_without_a_key_and_first_format_backups_restore_only_when_asked() {
    let (src, files) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let unkeyed = backed_up_with(src.path(), None).await;
    assert_eq!(&unkeyed[..MAGIC.len() + 1], b"textgate-backup 2\nU");
    let mut v1 = MAGIC_V1.to_vec();
    v1.extend_from_slice(&unkeyed[MAGIC.len() + 1..]);
    for (name, bytes) in [("unkeyed", unkeyed), ("version 1", rechecksummed(v1))] {
        let file = save(files.path(), &bytes);
        let target = files.path().join(name.replace(' ', "-"));
        let e = restore(&file, &target, false, keyed(&key())).expect_err(name);
        assert!(e.to_string().contains("--unauthenticated"), "{name}: {e}");
        let asked = Trust { unauthenticated: true, ..Trust::default() };
        let (summary, report) = restore(&file, &target, false, asked).unwrap();
        assert_eq!((summary.events, summary.seal), (21, Seal::Unkeyed), "{name}");
        assert!(report.is_clean(), "{name}: {report}");
    }
    // A keyed file needs its key.
    let keyed_file = save(files.path(), &backed_up_with(tempfile::tempdir().unwrap().path(), Some(key())).await);
    let e = check_file(&keyed_file, Trust { unauthenticated: true, ..Trust::default() }).expect_err("no key");
    assert!(e.to_string().contains("--key-file"), "{e}");
}

/// A file of the current format holding one `contact` entry whose key
/// length field says `len`, followed by `rest`.
fn lying(len: u32, rest: &[u8]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.push(b'U');
    b.extend_from_slice(b"T\x00\x07contactE");
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(rest);
    b
}

#[test]
fn lying_lengths_and_unknown_trees_are_refused_before_anything_is_allocated() {
    let files = tempfile::tempdir().unwrap();
    let trust = Trust { unauthenticated: true, ..Trust::default() };
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("over the item limit", lying(u32::MAX, &[0; 64]), "an item of 4294967295 bytes"),
        // Under the limit but far past the end of a small file: refused on
        // the length, not after allocating 15 MiB and reading short.
        ("past the end", lying(15 << 20, &[0; 64]), "a length of 15728640 bytes where 64 are left"),
        ("a tree no backup holds", [MAGIC, b"UT\x00\x04evil"].concat(), "a tree no backup holds"),
    ];
    for (name, bytes, want) in cases {
        let file = save(files.path(), &bytes);
        let e = check_file(&file, trust).expect_err(name);
        assert!(e.to_string().contains(want), "{name}: {e}");
        let target = files.path().join("never");
        assert!(restore(&file, &target, false, trust).is_err(), "{name}");
        assert!(!target.exists(), "{name}: nothing written");
    }
}
