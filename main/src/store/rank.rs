//! Position keys for ordered lists (a kanban column): strings that sort bytewise in list order, with a key
//! strictly between any two different keys, so moving an item writes that item only and never renumbers its
//! neighbours.
//!
//! A key is a fraction in (0, 1) written in base 62 (`0-9A-Za-z`, which is also their ASCII order) without
//! the leading `0.`; it never ends in `0`, so there is always room below it. [`between`] gives the shortest
//! key between two neighbours (the midpoint of their first differing digit), the scheme of fractional
//! indexing as Figma and Linear use it. Inserting again and again at one place lengthens keys by about one
//! digit per six insertions; [`spaced`] deals out fresh, short, evenly spaced keys for a whole list when
//! they grew long ([`MAX_KEY_LEN`]).
//!
//! Moves are computed by main from the neighbours as stored at the time of the write (under the store's
//! lock), never from keys a client sends, so two concurrent moves into the same gap get different keys and
//! every client converges on one order.

/// The digits, in ascending order (ASCII order too).
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Keys longer than this are a sign the list should be re-spaced ([`spaced`]).
pub const MAX_KEY_LEN: usize = 128;

/// Why two keys have nothing between them, or a key is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RankError {
    /// The key has a character outside `0-9A-Za-z`, is empty or too long, or ends in `0`.
    #[error("{0:?} is not a position key (1–256 base-62 digits, not ending in 0)")]
    Invalid(String),
    /// The lower neighbour does not sort before the upper one.
    #[error("position {0:?} does not sort before {1:?}")]
    Unordered(String, String),
}

fn digit(c: u8) -> usize {
    DIGITS.iter().position(|d| *d == c).unwrap_or(0)
}

/// The longest key accepted from outside (an import); the store re-spaces a column long before keys grow
/// to this ([`MAX_KEY_LEN`]).
pub const MAX_ACCEPTED_LEN: usize = 256;

/// Checks that `key` is a position key.
pub fn validate(key: &str) -> Result<(), RankError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_ACCEPTED_LEN
        && key.bytes().all(|c| c.is_ascii_alphanumeric())
        && !key.ends_with('0');
    if ok {
        Ok(())
    } else {
        Err(RankError::Invalid(key.to_string()))
    }
}

/// A key that sorts after `lower` and before `upper` (`None`: the start or the end of the list).
pub fn between(lower: Option<&str>, upper: Option<&str>) -> Result<String, RankError> {
    for k in [lower, upper].into_iter().flatten() {
        validate(k)?;
    }
    if let (Some(a), Some(b)) = (lower, upper)
        && a >= b
    {
        return Err(RankError::Unordered(a.to_string(), b.to_string()));
    }
    let mid = midpoint(lower.unwrap_or("").as_bytes(), upper.map(str::as_bytes));
    Ok(String::from_utf8(mid).unwrap_or_default())
}

/// The digits of a fraction strictly between `a` (empty: 0) and `b` (`None`: 1), `a < b`, neither ending
/// in the zero digit. A loop, not recursion: a long run of top digits in `a` must not grow the stack.
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    let (mut a, mut b) = (a, b);
    let mut out = Vec::new();
    loop {
        if let Some(bb) = b {
            // Copy the common prefix (reading `a` as padded with zeros), then split the rest.
            let n = (0..bb.len())
                .take_while(|&i| a.get(i).copied().unwrap_or(DIGITS[0]) == bb[i])
                .count();
            if n > 0 {
                out.extend_from_slice(&bb[..n]);
                a = a.get(n..).unwrap_or(&[]);
                b = Some(&bb[n..]);
                continue;
            }
        }
        let da = a.first().map_or(0, |&c| digit(c));
        let db = b
            .and_then(|b| b.first())
            .map_or(DIGITS.len(), |&c| digit(c));
        if db > da + 1 {
            out.push(DIGITS[(da + db).div_ceil(2)]);
            return out;
        }
        // Adjacent first digits: keep `b`'s first digit if `b` goes on (it is then above `a` and below
        // `b`), else `a`'s first digit followed by something above the rest of `a`.
        match b {
            Some(bb) if bb.len() > 1 => {
                out.push(bb[0]);
                return out;
            }
            _ => {
                out.push(DIGITS[da]);
                a = a.get(1..).unwrap_or(&[]);
                b = None;
            }
        }
    }
}

/// `n` short keys, evenly spaced and ascending, for a list re-spaced in one write.
pub fn spaced(n: usize) -> Vec<String> {
    // Enough digits that every key is distinct: 62^len > n.
    let mut len = 1;
    while 62usize.saturating_pow(len as u32) <= n {
        len += 1;
    }
    let room = 62u128.pow(len as u32);
    (1..=n as u128)
        .map(|i| {
            let mut v = i * room / (n as u128 + 1);
            let mut digits = vec![DIGITS[0]; len];
            for slot in digits.iter_mut().rev() {
                *slot = DIGITS[(v % 62) as usize];
                v /= 62;
            }
            while digits.last() == Some(&DIGITS[0]) {
                digits.pop();
            }
            String::from_utf8(digits).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    /// Proves keys fill the ends and the gaps, stay short in ordinary use, and bad keys are refused.
    #[test]
    fn keys_go_between_and_bad_ones_are_refused() {
        let first = between(None, None).unwrap();
        let after = between(Some(&first), None).unwrap();
        let before = between(None, Some(&first)).unwrap();
        assert!(before < first && first < after, "{before} {first} {after}");
        assert_eq!(first.len(), 1);
        let mid = between(Some("a"), Some("b")).unwrap();
        assert!("a" < mid.as_str() && mid.as_str() < "b", "{mid}");
        for bad in ["", "a0", "a-b", "ü"] {
            assert!(
                matches!(between(Some(bad), None), Err(RankError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            between(Some("b"), Some("a")),
            Err(RankError::Unordered(..))
        ));
        assert!(matches!(
            between(Some("a"), Some("a")),
            Err(RankError::Unordered(..))
        ));
    }

    /// Proves a key after a long run of top digits is computed without recursion (it once overflowed the
    /// stack at 30,000 `z`s), and keys over the accepted length are refused.
    #[test]
    fn long_keys_neither_overflow_nor_pass() {
        let long = "z".repeat(MAX_ACCEPTED_LEN);
        let next = between(Some(&long), None).unwrap();
        assert!(next.as_str() > long.as_str());
        let deep = "z".repeat(100_000);
        assert!(midpoint(deep.as_bytes(), None).len() > deep.len());
        assert!(matches!(
            validate(&"a".repeat(MAX_ACCEPTED_LEN + 1)),
            Err(RankError::Invalid(_))
        ));
    }

    /// Proves re-spaced keys are distinct, ascending, valid and short.
    #[test]
    fn spaced_keys_ascend() {
        for n in [0, 1, 2, 61, 62, 100, 5000] {
            let keys = spaced(n);
            assert_eq!(keys.len(), n);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "n = {n}");
            assert!(
                keys.iter().all(|k| validate(k).is_ok() && k.len() <= 3),
                "n = {n}"
            );
        }
    }

    proptest! {
        /// Proves any sequence of moves (an item taken out and put back between any two neighbours, or at
        /// an end) keeps every key valid and the list strictly ordered by key.
        #[test]
        fn random_moves_keep_the_list_strictly_ordered(
            start in 1usize..40,
            moves in proptest::collection::vec((0usize..1000, 0usize..1000), 1..300),
        ) {
            let mut list: Vec<String> = spaced(start);
            for (from, to) in moves {
                let from = from % list.len();
                list.remove(from);
                let to = to % (list.len() + 1);
                let lower = to.checked_sub(1).map(|i| list[i].as_str());
                let upper = list.get(to).map(String::as_str);
                let key = between(lower, upper).unwrap();
                prop_assert!(validate(&key).is_ok());
                list.insert(to, key);
                prop_assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            }
        }

        /// Proves moves into one gap from many writers, applied one after another as the store serialises
        /// them (each computed from the neighbours as they are then), give distinct keys in one order.
        #[test]
        fn concurrent_moves_into_one_gap_converge(writers in 2usize..50) {
            let (a, b) = ("V".to_string(), "W".to_string());
            let mut gap = vec![a, b];
            for _ in 0..writers {
                // Each writer asked for "right after the first item"; the store computes it from what is
                // there when its write comes.
                let key = between(Some(&gap[0]), Some(&gap[1])).unwrap();
                gap.insert(1, key);
            }
            prop_assert!(gap.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(gap.iter().all(|k| k.len() <= 2 + writers / 5));
        }
    }
}
