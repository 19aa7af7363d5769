//! The store conformance suite, run against both backends (`tests/store_backends.rs`): what the key-value
//! layer promises (order, ranges, units of work, guards, ids) and the invariants the typed store keeps when
//! two writers race. Each check takes two handles: for PostgreSQL two separately connected stores, as two
//! mains would be; for sled one store shared by threads (sled admits one process).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use uuid::Uuid;
use vibebridge_main::store::kv::{Kv, KvError};
use vibebridge_main::store::{Role, Store, StoreError, UserId};
use vibebridge_tunnel::session::{EventBody, SessionEvent};

/// Every key-value check, on `a` (and `b`, another handle on the same database).
pub fn kv_conformance(a: &Arc<Kv>, b: &Arc<Kv>) {
    basics(a, b);
    order_and_ranges(a);
    units_see_their_writes(a);
    units_commit_together(a, b);
    guards_catch_other_writers(a, b);
    counters_never_lose_an_increment(a, b);
    ids_only_grow(a, b);
}

fn basics(a: &Arc<Kv>, b: &Arc<Kv>) {
    let (t, u) = (a.tree("basics"), b.tree("basics"));
    assert_eq!(t.get("k").unwrap(), None);
    assert!(t.is_empty().unwrap());
    t.insert("k", "v1").unwrap();
    assert_eq!(
        u.get("k").unwrap().as_deref(),
        Some(&b"v1"[..]),
        "the other handle sees it"
    );
    assert_eq!(t.replace("k", "v2").unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(u.contains_key("k").unwrap());
    assert!(
        !t.compare_and_swap("k", Some(b"v1"), Some(b"v3")).unwrap(),
        "stale CAS refused"
    );
    assert!(t.compare_and_swap("k", Some(b"v2"), Some(b"v3")).unwrap());
    assert!(
        u.compare_and_swap("new", None, Some(b"x")).unwrap(),
        "absent CAS creates"
    );
    assert!(
        !t.compare_and_swap("new", None, Some(b"y")).unwrap(),
        "a second absent CAS fails"
    );
    assert_eq!(t.remove("k").unwrap().as_deref(), Some(&b"v3"[..]));
    assert_eq!(u.remove("k").unwrap(), None);
    // Other trees are other key spaces.
    assert_eq!(a.tree("basics2").get("new").unwrap(), None);
    // Empty values and binary keys survive.
    t.insert([0u8, 255, 0], []).unwrap();
    assert_eq!(u.get([0u8, 255, 0]).unwrap(), Some(Vec::new()));
}

fn order_and_ranges(a: &Arc<Kv>) {
    let t = a.tree("order");
    // Bytewise order, shorter prefixes first, across more than one page.
    let mut keys: Vec<Vec<u8>> = (0u16..2500).map(|i| i.to_be_bytes().to_vec()).collect();
    keys.extend([vec![], vec![0], vec![0, 0, 0], vec![255], vec![255, 255, 1]]);
    for k in &keys {
        t.insert(k, k).unwrap();
    }
    let mut sorted: Vec<Vec<u8>> = keys
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let all: Vec<Vec<u8>> = t.iter().keys().map(Result::unwrap).collect();
    assert_eq!(all, sorted, "a full scan is in bytewise order");
    let back: Vec<Vec<u8>> = t.iter().rev().keys().map(Result::unwrap).collect();
    sorted.reverse();
    assert_eq!(back, sorted, "and backwards");
    sorted.reverse();
    let lo = 300u16.to_be_bytes().to_vec();
    let hi = 1900u16.to_be_bytes().to_vec();
    let within = |f: &dyn Fn(&Vec<u8>) -> bool| -> Vec<Vec<u8>> {
        sorted.iter().filter(|k| f(k)).cloned().collect()
    };
    let got: Vec<_> = t
        .range(lo.clone()..hi.clone())
        .keys()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, within(&|k| *k >= lo && *k < hi));
    let got: Vec<_> = t
        .range(lo.clone()..=hi.clone())
        .keys()
        .rev()
        .map(Result::unwrap)
        .collect();
    let mut want = within(&|k| *k >= lo && *k <= hi);
    want.reverse();
    assert_eq!(got, want);
    let got: Vec<_> = t.range(..lo.clone()).keys().map(Result::unwrap).collect();
    assert_eq!(got, within(&|k| *k < lo));
    let got: Vec<_> = t.scan_prefix([255u8]).keys().map(Result::unwrap).collect();
    assert_eq!(got, vec![vec![255], vec![255, 255, 1]]);
    assert_eq!(t.first().unwrap().unwrap().0, Vec::<u8>::new());
    assert_eq!(t.last().unwrap().unwrap().0, vec![255, 255, 1]);
    assert_eq!(
        t.range(hi.clone()..lo.clone()).count(),
        0,
        "an inverted range is empty"
    );
}

fn units_see_their_writes(a: &Arc<Kv>) {
    let t = a.tree("unit_reads");
    for i in 0u8..5 {
        t.insert([i], [i]).unwrap();
    }
    let seen_outside = AtomicUsize::new(0);
    a.atomic(
        || -> Result<(), KvError> {
            t.insert([9u8], [9u8])?;
            t.remove([1u8])?;
            t.insert([2u8], [20u8])?;
            assert_eq!(t.get([9u8])?, Some(vec![9]), "a unit reads its own put");
            assert_eq!(t.get([1u8])?, None, "and its own delete");
            let keys: Vec<(Vec<u8>, Vec<u8>)> = t.iter().map(Result::unwrap).collect();
            assert_eq!(
                keys,
                vec![
                    (vec![0], vec![0]),
                    (vec![2], vec![20]),
                    (vec![3], vec![3]),
                    (vec![4], vec![4]),
                    (vec![9], vec![9])
                ]
            );
            let back: Vec<Vec<u8>> = t.iter().rev().keys().map(Result::unwrap).collect();
            assert_eq!(back, vec![vec![9], vec![4], vec![3], vec![2], vec![0]]);
            // Another thread is outside the unit: nothing is visible before the commit.
            std::thread::scope(|s| {
                s.spawn(|| {
                    if t.get([9u8]).unwrap().is_some() {
                        seen_outside.fetch_add(1, Ordering::SeqCst);
                    }
                });
            });
            Ok(())
        },
        |e| e,
    )
    .unwrap();
    assert_eq!(
        seen_outside.load(Ordering::SeqCst),
        0,
        "uncommitted writes are private"
    );
    assert_eq!(t.get([9u8]).unwrap(), Some(vec![9]));
    assert_eq!(t.get([1u8]).unwrap(), None);
}

fn units_commit_together(a: &Arc<Kv>, b: &Arc<Kv>) {
    let (t, u) = (a.tree("together"), b.tree("together2"));
    // A unit that refuses still keeps what it wrote before refusing (as writes straight to sled did), and
    // both trees' writes land at once.
    let r: Result<(), String> = a.atomic(
        || {
            t.insert("x", "1").map_err(|e| e.to_string())?;
            a.tree("together2")
                .insert("y", "2")
                .map_err(|e| e.to_string())?;
            Err("refused".into())
        },
        |e| e.to_string(),
    );
    assert_eq!(r, Err("refused".into()));
    assert!(t.contains_key("x").unwrap() && u.contains_key("y").unwrap());
    // A panic inside a unit commits nothing and leaves no unit open.
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.atomic(
            || -> Result<(), KvError> {
                t.insert("never", "1")?;
                panic!("inside a unit");
            },
            |e| e,
        )
    }));
    assert!(p.is_err());
    assert_eq!(t.get("never").unwrap(), None);
    t.insert("after", "1").unwrap();
    assert!(
        b.tree("together").contains_key("after").unwrap(),
        "writes after a panic go straight through"
    );
}

fn guards_catch_other_writers(a: &Arc<Kv>, b: &Arc<Kv>) {
    let t = a.tree("guards");
    t.insert("balance", "10").unwrap();
    let (attempts, announced) = (AtomicUsize::new(0), Arc::new(AtomicUsize::new(0)));
    let result = a.atomic(
        || -> Result<String, KvError> {
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            let seen = String::from_utf8(t.get("balance")?.unwrap()).unwrap();
            if n == 0 {
                // Another main changes what this unit read before it commits.
                std::thread::scope(|s| {
                    s.spawn(|| b.tree("guards").insert("balance", "15").unwrap());
                });
                // An absent key read here is created by the other main too.
                assert_eq!(t.get("claim")?, None);
                std::thread::scope(|s| {
                    s.spawn(|| b.tree("guards").insert("claim", "theirs").unwrap());
                });
            }
            t.insert("balance", format!("{seen}+1"))?;
            if t.get("claim")?.is_none() {
                t.insert("claim", "mine")?;
            }
            let announced = announced.clone();
            a.after_commit(move || {
                announced.fetch_add(1, Ordering::SeqCst);
            });
            Ok(seen)
        },
        |e| e,
    );
    assert_eq!(
        result.unwrap(),
        "15",
        "the unit ran again on the other main's value"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(
        announced.load(Ordering::SeqCst),
        1,
        "announced once, for the attempt that landed"
    );
    assert_eq!(t.get("balance").unwrap().unwrap(), b"15+1");
    assert_eq!(
        t.get("claim").unwrap().unwrap(),
        b"theirs",
        "nobody overwrote the first claim"
    );
}

fn counters_never_lose_an_increment(a: &Arc<Kv>, b: &Arc<Kv>) {
    const THREADS: usize = 4;
    const EACH: usize = 40;
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let kv = if i % 2 == 0 { a } else { b };
            let start = &start;
            s.spawn(move || {
                let t = kv.tree("counter");
                start.wait();
                for _ in 0..EACH {
                    kv.atomic(
                        || -> Result<(), KvError> {
                            let n = t
                                .get("n")?
                                .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
                            t.insert("n", (n + 1).to_be_bytes())
                        },
                        |e| e,
                    )
                    .unwrap();
                }
            });
        }
    });
    let n = a.tree("counter").get("n").unwrap().unwrap();
    assert_eq!(
        u64::from_be_bytes(n.try_into().unwrap()),
        (THREADS * EACH) as u64
    );
}

fn ids_only_grow(a: &Arc<Kv>, b: &Arc<Kv>) {
    let mut last = a.next_id().unwrap();
    for i in 0..50 {
        let id = if i % 2 == 0 { a.next_id() } else { b.next_id() }.unwrap();
        assert!(id > last, "id {id} after {last}");
        last = id;
    }
}

/// The typed store's invariants under racing writers on `a` and `b` (two mains on one database).
pub fn store_races(a: &Store, b: &Store) {
    one_creator(a, b);
    unique_usernames(a, b);
    token_spent_once(a, b);
    events_stay_contiguous(a, b);
    secrets_generated_once(a, b);
}

/// Runs `f(store, i)` on `n` threads at once, alternating the two handles; the results in thread order.
fn race<T: Send>(a: &Store, b: &Store, n: usize, f: impl Fn(&Store, usize) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (store, start, f) = (if i % 2 == 0 { a } else { b }, &start, &f);
                s.spawn(move || {
                    start.wait();
                    f(store, i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn one_creator(a: &Store, b: &Store) {
    let users = race(a, b, 6, |s, i| {
        s.create_user(&format!("first{i}"), "h".into()).unwrap()
    });
    let creators = users.iter().filter(|u| u.role == Role::Creator).count();
    assert_eq!(
        creators, 1,
        "exactly one of six simultaneous first registrations is the creator"
    );
    assert_eq!(a.users().unwrap().len(), 6);
}

fn unique_usernames(a: &Store, b: &Store) {
    let results = race(a, b, 6, |s, _| s.create_user("same", "h".into()));
    let made = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(made, 1, "one name, one user");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Conflict(_)))
    );
}

fn token_spent_once(a: &Store, b: &Store) {
    let (token, _) = a.create_node_token(None, 60_000).unwrap();
    let spent = race(a, b, 6, |s, _| {
        s.consume_node_token(&token).unwrap().is_some()
    });
    assert_eq!(
        spent.iter().filter(|s| **s).count(),
        1,
        "a one-time token is spent once"
    );
}

fn events_stay_contiguous(a: &Store, b: &Store) {
    let id = crate::seed::session_on(a, UserId(Uuid::now_v7()), "n1");
    let event = |seq: u64| SessionEvent {
        seq,
        at_ms: seq,
        body: EventBody::UserMessage {
            text: format!("event {seq}"),
        },
    };
    // Two writers (the old main and the new, a re-attach overlap) apply the same events in batches.
    let fresh = race(a, b, 2, |s, _| {
        let mut fresh = 0;
        for chunk in (1..=120u64).collect::<Vec<_>>().chunks(7) {
            let batch = chunk.iter().map(|&q| event(q)).collect();
            fresh += s.apply_session_events(&id, batch).unwrap().len();
        }
        fresh
    });
    assert_eq!(
        fresh.iter().sum::<usize>(),
        120,
        "every event is new to exactly one writer"
    );
    let stored = b.session_events(&id, 0, 1000).unwrap();
    let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=120).collect::<Vec<_>>(),
        "contiguous, nothing lost or doubled"
    );
    assert_eq!(a.agent_session(&id).unwrap().unwrap().last_seq, 120);
}

fn secrets_generated_once(a: &Store, b: &Store) {
    let values = race(a, b, 4, |s, i| {
        s.meta_secret("race_secret", || format!("value-{i}"))
            .unwrap()
    });
    assert!(
        values.iter().all(|v| *v == values[0]),
        "every main got the same secret: {values:?}"
    );
}

/// What the lead's memory promises (`lead` leads under `epoch` on PostgreSQL; `other` is another process
/// writing the same database without the fence, as an admin command would): reads from memory equal the
/// database's for every read shape, before and after writes of every kind; another process's write is seen
/// once announced; racing increments are never lost however stale memory was; and a fenced write stops the
/// use of memory.
pub fn lead_memory(lead: &Arc<Kv>, other: &Arc<Kv>, epoch: u64) {
    lead.tree("meta")
        .insert(
            vibebridge_main::store::kv::postgres::EPOCH_KEY,
            epoch.to_be_bytes(),
        )
        .unwrap();
    lead.lead(epoch);
    let (t, truth) = (lead.tree("held"), other.tree("held"));
    for i in 0u32..300 {
        t.insert(i.to_be_bytes(), format!("v{i}")).unwrap();
    }
    same_as_database(&t, &truth);
    assert!(
        lead.holds("held"),
        "a tree read by the lead is held in memory"
    );
    // Every kind of write, then every kind of read again.
    let mut seed = 7u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let key = ((next() % 400) as u32).to_be_bytes();
        match next() % 5 {
            0 => t.insert(key, format!("r{round}")).map(drop).unwrap(),
            1 => t.remove(key).map(drop).unwrap(),
            2 => t.replace(key, format!("p{round}")).map(drop).unwrap(),
            3 => {
                let now = t.get(key).unwrap();
                assert!(t.compare_and_swap(key, now.as_deref(), None).unwrap());
            }
            _ => lead
                .atomic(
                    || -> Result<(), KvError> {
                        let n = t.get(key)?.map_or(0, |v| v.len());
                        t.insert(key, vec![b'u'; n + 1])?;
                        t.remove(((next() % 400) as u32).to_be_bytes())?;
                        Ok(())
                    },
                    |e| e,
                )
                .unwrap(),
        }
        if round % 25 == 0 {
            same_as_database(&t, &truth);
        }
    }
    same_as_database(&t, &truth);
    // Another process's write reaches memory once announced (waited for, never slept on).
    truth.insert("from-admin", "x").unwrap();
    wait_until(|| t.get("from-admin").unwrap().as_deref() == Some(&b"x"[..]));
    // Stale memory never costs an increment: the database checks the guards.
    // (The database's handle first: the final count is read from it.)
    counters_never_lose_an_increment(other, lead);
    wait_until(|| {
        lead.tree("counter").get("n").unwrap() == other.tree("counter").get("n").unwrap()
    });
    same_as_database(&t, &truth);
    // Another main takes the lead: the old one's next write is fenced and it stops using memory.
    other
        .tree("meta")
        .insert(
            vibebridge_main::store::kv::postgres::EPOCH_KEY,
            (epoch + 1).to_be_bytes(),
        )
        .unwrap();
    let fenced = lead.atomic(|| t.insert("late", "x"), |e| e).unwrap_err();
    assert!(matches!(fenced, KvError::Fenced), "{fenced}");
    assert!(
        !lead.holds("held"),
        "a fenced main reads the database again"
    );
    assert_eq!(
        truth.get("late").unwrap(),
        None,
        "nothing of the fenced write landed"
    );
}

/// Every read shape of `t` (from memory) against `truth` (the same tree read from the database).
fn same_as_database(
    t: &vibebridge_main::store::kv::Tree,
    truth: &vibebridge_main::store::kv::Tree,
) {
    let all = |tree: &vibebridge_main::store::kv::Tree| -> Vec<_> {
        tree.iter().collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(all(t), all(truth), "a full scan");
    let rev = |tree: &vibebridge_main::store::kv::Tree| -> Vec<_> {
        tree.range(50u32.to_be_bytes()..=250u32.to_be_bytes())
            .rev()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(rev(t), rev(truth), "a bounded range, backwards");
    let prefix = [0u8, 0, 1];
    assert_eq!(
        t.page_from(&[0, 0, 1, 10], &prefix, 20).unwrap(),
        truth.page_from(&[0, 0, 1, 10], &prefix, 20).unwrap(),
        "a page within a prefix"
    );
    let prefixes = vec![vec![0u8, 0, 0], vec![0u8, 0, 1], vec![9u8]];
    assert_eq!(
        t.scan_prefixes(&prefixes, 7).unwrap(),
        truth.scan_prefixes(&prefixes, 7).unwrap(),
        "prefix scans"
    );
    let keys: Vec<Vec<u8>> = (0u32..400)
        .step_by(13)
        .map(|i| i.to_be_bytes().to_vec())
        .collect();
    assert_eq!(
        t.get_many(&keys).unwrap(),
        truth.get_many(&keys).unwrap(),
        "many keys"
    );
    assert_eq!(t.first().unwrap(), truth.first().unwrap());
    assert_eq!(t.last().unwrap(), truth.last().unwrap());
}

/// Waits (up to a minute) for `done`, yielding the thread between looks.
pub fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "not reached within a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
