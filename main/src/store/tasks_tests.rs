//! The board's order under moves: keys stay strictly ordered and unique, moves land where asked, and moves
//! made at once from several threads all land.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::store::{Store, UserId, temp};

fn draft(ws: WorkspaceId, title: &str) -> Task {
    Task::draft(ws, title, TaskStatus::Todo)
}

fn board(store: &Store, ws: WorkspaceId) -> Vec<(TaskStatus, Vec<TaskId>)> {
    TaskStatus::ALL
        .into_iter()
        .map(|s| {
            let col = store.column(ws, s, None, usize::MAX).unwrap();
            // The column's counter agrees with its index.
            assert_eq!(store.column_len(ws, s), col.len(), "{s:?}");
            // Positions are strictly increasing within a column: no ties, no reordering.
            for pair in col.windows(2) {
                assert!(pair[0].position < pair[1].position, "{pair:?}");
            }
            (s, col.into_iter().map(|t| t.id).collect())
        })
        .collect()
}

/// A move of `ids[task]` into `status`, after `after` / before `before` (indexes into that column).
#[derive(Debug, Clone)]
struct Move {
    task: usize,
    status: usize,
    slot: usize,
    end: u8,
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        (0usize..12, 0usize..3, 0usize..13, 0u8..4).prop_map(|(task, status, slot, end)| Move {
            task,
            status,
            slot,
            end,
        }),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Proves that after any sequence of moves (top, bottom, between two neighbours, after one, before one)
    /// every column stays strictly ordered, every task is in exactly one column, and each move lands exactly
    /// where it asked, as a model list predicts.
    #[test]
    fn random_moves_keep_columns_strictly_ordered(moves in moves()) {
        let (store, dir) = temp();
        let ws = store.create_workspace("W".into(), "W".into(), UserId::new()).unwrap().id;
        let statuses = [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done];
        let mut model: Vec<Vec<TaskId>> = vec![Vec::new(); 3];
        for i in 0..12 {
            let t = store.create_task(draft(ws, &format!("t{i}")), Place::Bottom).unwrap();
            model[0].push(t.id);
        }
        let ids = model[0].clone();
        for m in moves {
            let id = ids[m.task];
            for col in model.iter_mut() {
                col.retain(|t| *t != id);
            }
            let col = &mut model[m.status];
            let slot = m.slot.min(col.len());
            let place = match m.end {
                0 => Place::Top,
                1 => Place::Bottom,
                2 => Place::Near { after: slot.checked_sub(1).map(|i| col[i]), before: col.get(slot).copied() },
                _ => Place::Near { after: None, before: col.get(slot).copied() },
            };
            let at = match (&place, m.end) {
                (Place::Top, _) => 0,
                (Place::Bottom, _) => col.len(),
                (_, 3) if slot == col.len() => col.len(),
                _ => slot,
            };
            col.insert(at, id);
            store.move_task(id, statuses[m.status], &place).unwrap();
        }
        let got = board(&store, ws);
        for (i, s) in statuses.iter().enumerate() {
            let col = &got.iter().find(|(st, _)| st == s).unwrap().1;
            prop_assert_eq!(col, &model[i]);
        }
        drop(store);
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Proves moves made at once from several threads all land: every task ends in the column it was sent to,
/// once, and the column is strictly ordered.
#[test]
fn concurrent_moves_converge() {
    let (store, dir) = temp();
    let ws = store
        .create_workspace("W".into(), "W".into(), UserId::new())
        .unwrap()
        .id;
    let ids: Vec<TaskId> = (0..40)
        .map(|i| {
            store
                .create_task(draft(ws, &format!("t{i}")), Place::Bottom)
                .unwrap()
                .id
        })
        .collect();
    std::thread::scope(|s| {
        for chunk in ids.chunks(10) {
            let store = store.clone();
            let first = ids[0];
            s.spawn(move || {
                for (n, id) in chunk.iter().enumerate() {
                    // Everyone aims at the same spot: right after the first task, or at the top.
                    let place = if n % 2 == 0 {
                        Place::Top
                    } else {
                        Place::Near {
                            after: Some(first),
                            before: None,
                        }
                    };
                    if *id != first {
                        store.move_task(*id, TaskStatus::Done, &place).unwrap();
                    }
                }
            });
        }
    });
    let got = board(&store, ws);
    let done = &got.iter().find(|(s, _)| *s == TaskStatus::Done).unwrap().1;
    let todo = &got.iter().find(|(s, _)| *s == TaskStatus::Todo).unwrap().1;
    assert_eq!(todo, &vec![ids[0]]);
    assert_eq!(done.len(), 39);
    let mut sorted = done.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 39);
    drop(store);
    std::fs::remove_dir_all(dir).ok();
}

/// Proves a thousand inserts at one spot never grow keys past `MAX_KEY_LEN` (the column is re-spaced,
/// order kept), and a restored task whose key another task took since is placed anew, so moves between the
/// two still work.
#[test]
fn keys_stay_short_and_restored_tasks_are_placed_anew() {
    let (store, dir) = temp();
    let ws = store
        .create_workspace("W".into(), "W".into(), UserId::new())
        .unwrap()
        .id;
    let first = store
        .create_task(draft(ws, "first"), Place::Bottom)
        .unwrap();
    let mut model = vec![first.id];
    for i in 0..1000 {
        let t = store
            .create_task(draft(ws, &format!("t{i}")), Place::Bottom)
            .unwrap();
        store
            .move_task(
                t.id,
                TaskStatus::Todo,
                &Place::Near {
                    after: Some(first.id),
                    before: None,
                },
            )
            .unwrap();
        model.insert(1, t.id);
    }
    let col = store
        .column(ws, TaskStatus::Todo, None, usize::MAX)
        .unwrap();
    assert!(
        col.iter()
            .all(|t| t.position.len() <= crate::store::rank::MAX_KEY_LEN)
    );
    assert_eq!(col.iter().map(|t| t.id).collect::<Vec<_>>(), model);

    let ws2 = store
        .create_workspace("V".into(), "V".into(), UserId::new())
        .unwrap()
        .id;
    let a = store.create_task(draft(ws2, "a"), Place::Top).unwrap();
    store
        .update_task(a.id, None, |t| {
            t.archived = true;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let b = store.create_task(draft(ws2, "b"), Place::Top).unwrap();
    assert_eq!(a.position, b.position, "b took a's old key");
    let (_, a) = store
        .update_task(a.id, None, |t| {
            t.archived = false;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_ne!(a.position, b.position);
    let c = store.create_task(draft(ws2, "c"), Place::Bottom).unwrap();
    store
        .move_task(
            c.id,
            TaskStatus::Todo,
            &Place::Near {
                after: Some(a.id),
                before: Some(b.id),
            },
        )
        .unwrap();
    board(&store, ws2);
    drop(store);
    std::fs::remove_dir_all(dir).ok();
}
