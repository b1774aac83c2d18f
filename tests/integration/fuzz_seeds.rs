//! The fuzz targets' inputs replayed in `cargo test`: every seed under
//! fuzz/seeds/ and every input that once crashed a target, kept under
//! fuzz/regressions/ (docs/fuzzing.md). Runs the same harness functions as
//! `cargo +nightly fuzz run`, so a crash fixed once stays fixed.

use std::path::{Path, PathBuf};

use mailaudit::findings::MESSAGE_UNPARSEABLE;
use mailaudit::message::Loaded;
use mailaudit::message::scan::{MAX_LINK_DOMAINS, scan};
use mailaudit::rules::Rules;

use crate::common::XorShift;
use crate::fuzz_harness::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly under `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_replays_without_panicking() {
    let mut replayed = 0;
    for (name, run) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("seeds").join(name));
        assert!(!seeds.is_empty(), "fuzz target {name} has no seeds");
        for file in seeds
            .iter()
            .chain(&inputs(&fuzz_dir().join("regressions").join(name)))
        {
            let data = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
            replayed += 1;
        }
    }
    // Every directory of inputs is a target's: a renamed target must not
    // leave its seeds or regressions silently unreplayed.
    let mut files = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(dirs) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for dir in dirs {
            let dir = dir.unwrap().path();
            if !dir.is_dir() {
                continue; // a README
            }
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name} is no fuzz target's"
            );
            files += inputs(&dir).len();
        }
    }
    assert_eq!(replayed, files);
}

#[test]
fn every_fuzz_target_has_a_harness() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "mailaudit-fuzz")
        .collect();
    let mut names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    let mut bins_sorted = bins.clone();
    names.sort();
    bins_sorted.sort();
    assert_eq!(bins_sorted, names);
}

/// Junk, truncated headers, 8-bit bytes and mangled messages, generated
/// the same way every run, through every target; and a message the scan
/// cannot read is said to be unreadable, never reported as parsed.
#[test]
fn generated_garbage_never_panics() {
    let rules = Rules::embedded();
    let mut rng = XorShift(0x5eed_cafe_f00d_d00d);
    let mut read = [0usize; 2];
    let base = b"From: A <a@example.com>\r\nTo: b@example.net\r\nSubject: x\r\nList-Unsubscribe: <https://e.example/u>\r\nDKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; b=AAAA\r\nContent-Type: multipart/alternative; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: text/html\r\n\r\n<a href=\"https://e.example/u\">unsubscribe</a>\r\n--q--\r\n";
    for round in 0..1200 {
        let mut bytes: Vec<u8> = if round % 3 == 0 {
            (0..(rng.next() % 300)).map(|_| rng.next() as u8).collect()
        } else {
            let cut = (rng.next() as usize) % base.len();
            let mut b = base[..cut].to_vec();
            for _ in 0..(rng.next() % 8) {
                if !b.is_empty() {
                    let at = (rng.next() as usize) % b.len();
                    b[at] = rng.next() as u8;
                }
            }
            b
        };
        if round % 7 == 0 {
            bytes.extend_from_slice("héllo wörld \u{fffd}".as_bytes());
        }
        for (_, run) in TARGETS {
            run(&bytes);
        }
        let loaded = Loaded {
            path: "garbage.eml".into(),
            size: bytes.len() as u64,
            bytes,
            truncated: false,
        };
        let p = scan(&loaded, &rules);
        let unparseable = p
            .findings
            .iter()
            .filter(|f| f.id == MESSAGE_UNPARSEABLE)
            .count();
        read[usize::from(p.problem.is_none())] += 1;
        match &p.problem {
            // Unreadable: said once, and nothing read from it.
            Some(_) => {
                assert!(p.parsed.is_none(), "round {round}");
                assert_eq!((unparseable, p.findings.len()), (1, 1), "round {round}");
                assert!(
                    p.from_domain.is_none() && p.link_domains.is_empty() && p.signatures.is_empty()
                );
            }
            None => {
                assert!(p.parsed.is_some(), "round {round}");
                assert_eq!(unparseable, 0, "round {round}");
            }
        }
        assert_eq!(
            p.from_address.is_some(),
            p.from_domain.is_some(),
            "round {round}"
        );
        assert!(p.link_domains.len() <= MAX_LINK_DOMAINS, "round {round}");
        assert!(
            p.link_domains_found >= p.link_domains.len(),
            "round {round}"
        );
    }
    // Both kinds of input were met.
    assert!(read[0] > 0 && read[1] > 0, "{read:?}");
}
