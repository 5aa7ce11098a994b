//! The example of `nbio::sim` as a test (runtime/examples/sim_kv.rs): among 1,000 seeds, the
//! buggy store fails on some (a stale read after a partition during a write), the failing seed
//! replays the same failure, and the fixed store passes every seed.

#[path = "../../runtime/examples/sim_kv.rs"]
mod sim_kv;

use sim_kv::{run, Version};

#[test]
fn a_thousand_seeds_find_the_bug_its_seed_replays_it_and_the_fix_passes_them_all() {
    let (seed, failure) = (0..1000)
        .find_map(|seed| run(seed, Version::Buggy).err().map(|err| (seed, err)))
        .expect("no seed of 1,000 found the stale read");
    let text = failure.to_string();
    assert!(
        text.starts_with(&format!("NBIO_SEED={seed} replays this run")),
        "{text}"
    );
    assert!(text.contains("stale read"), "{text}");
    assert!(text.contains("partition(leader, f2)"), "{text}");
    let replayed = run(seed, Version::Buggy).unwrap_err();
    assert_eq!(
        replayed.to_string(),
        text,
        "the seed did not replay its run"
    );
    for seed in 0..1000 {
        if let Err(err) = run(seed, Version::Fixed) {
            panic!("the fixed store failed: {err}");
        }
    }
}
