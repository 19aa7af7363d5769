//! Ordered iteration over a tree: the backend is read a page at a time (pages grow, so a loop that stops
//! after one entry reads little and a full scan takes few round trips, but only up to about [`PAGE_BYTES`]
//! of entries, so large values are never read far ahead of the loop), and the writes of an open unit of
//! work are merged in, so a unit reads what it wrote.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use super::{Bytes, Kv, KvError, Span, unit};

const FIRST_PAGE: usize = 32;
const LARGEST_PAGE: usize = 1024;
/// What a page after the first may hold, about: pages of large values (session events, files) stay small.
const PAGE_BYTES: usize = 256 << 10;

/// Entries of a tree in key order (or reverse order after [`Iter::rev`]).
pub struct Iter {
    kv: Arc<Kv>,
    tree: &'static str,
    span: Span,
    reverse: bool,
    page: VecDeque<(Bytes, Bytes)>,
    page_size: usize,
    exhausted: bool,
    /// The open unit's writes inside the span, in iteration order (`None`: deleted).
    overlay: VecDeque<(Bytes, Option<Bytes>)>,
    failed: bool,
}

impl Iter {
    pub(super) fn new(kv: Arc<Kv>, tree: &'static str, span: Span) -> Iter {
        let overlay = unit::writes_in(kv.id, tree)
            .into_iter()
            .filter(|(k, _)| span.contains(k))
            .collect();
        Iter {
            kv,
            tree,
            span,
            reverse: false,
            page: VecDeque::new(),
            page_size: FIRST_PAGE,
            exhausted: false,
            overlay,
            failed: false,
        }
    }

    /// Reads `n` entries in the first round trip (for a caller that knows how many it wants).
    pub fn first_page(mut self, n: usize) -> Iter {
        self.page_size = n.clamp(1, LARGEST_PAGE);
        self
    }

    /// The same entries from the largest key down.
    pub fn rev(mut self) -> Iter {
        self.reverse = !self.reverse;
        self.overlay = self.overlay.into_iter().rev().collect();
        self
    }

    /// Only the keys.
    pub fn keys(self) -> Keys {
        Keys(self)
    }

    /// Only the values.
    pub fn values(self) -> Values {
        Values(self)
    }

    /// Reads the next page from the backend, continuing after the last key of the one before.
    fn fetch(&mut self) -> Result<(), KvError> {
        let page = self
            .kv
            .range(self.tree, &self.span, self.reverse, self.page_size)?;
        self.exhausted = page.len() < self.page_size;
        if let Some((last, _)) = page.last() {
            let after = Bound::Excluded(last.clone());
            if self.reverse {
                self.span.hi = after;
            } else {
                self.span.lo = after;
            }
        }
        let bytes: usize = page.iter().map(|(k, v)| k.len() + v.len()).sum();
        let by_bytes = (PAGE_BYTES / (bytes / page.len().max(1)).max(1)).max(1);
        self.page.extend(page);
        self.page_size = (self.page_size * 2).min(LARGEST_PAGE).min(by_bytes);
        Ok(())
    }

    /// Whether `a` comes before `b` in this iteration's order.
    fn before(&self, a: &[u8], b: &[u8]) -> bool {
        if self.reverse { a > b } else { a < b }
    }
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes), KvError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if self.page.is_empty()
                && !self.exhausted
                && let Err(e) = self.fetch()
            {
                self.failed = true;
                return Some(Err(e));
            }
            let stored = self.page.front().map(|(k, _)| k.as_slice());
            let held = self.overlay.front().map(|(k, _)| k.as_slice());
            let take_held = match (stored, held) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(s), Some(h)) => {
                    if s == h {
                        // The unit's write replaces what is stored.
                        self.page.pop_front();
                        true
                    } else {
                        self.before(h, s)
                    }
                }
            };
            if !take_held {
                return self.page.pop_front().map(Ok);
            }
            if let Some((k, Some(v))) = self.overlay.pop_front() {
                return Some(Ok((k, v)));
            }
            // A key the unit deleted: skip it.
        }
    }
}

/// Keys of an [`Iter`].
pub struct Keys(Iter);

impl Keys {
    /// The same keys from the largest down.
    pub fn rev(self) -> Keys {
        Keys(self.0.rev())
    }
}

impl Iterator for Keys {
    type Item = Result<Bytes, KvError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|r| r.map(|(k, _)| k))
    }
}

/// Values of an [`Iter`].
pub struct Values(Iter);

impl Values {
    /// The same values from the largest key down.
    pub fn rev(self) -> Values {
        Values(self.0.rev())
    }
}

impl Iterator for Values {
    type Item = Result<Bytes, KvError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|r| r.map(|(_, v)| v))
    }
}
