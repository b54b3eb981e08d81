//! Cursor pagination, shared by every list operation.

/// Sort order by creation (ties broken by insertion order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first (the API's default).
    #[default]
    Desc,
}

/// A validated list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// 1..=100.
    pub limit: u32,
    /// Direction.
    pub order: Order,
    /// Return objects after this id, in `order`.
    pub after: Option<String>,
    /// Return objects before this id, in `order`.
    pub before: Option<String>,
}

impl Default for ListParams {
    fn default() -> Self {
        Self {
            limit: 20,
            order: Order::Desc,
            after: None,
            before: None,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The objects, in the requested order.
    pub data: Vec<T>,
    /// Whether more objects lie beyond this page in the direction of travel.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in travel direction; `reversed` says the
    /// rows were fetched against the requested order (a `before` query) and must be flipped.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, reversed: bool) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        if reversed {
            rows.reverse();
        }
        Self {
            data: rows,
            has_more,
        }
    }

    /// Maps each object.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}

impl ListParams {
    /// Whether rows are fetched in ascending sequence, and whether they must then be reversed.
    ///
    /// A `before` cursor walks away from the requested order: the page nearest the cursor is
    /// fetched first and flipped afterwards. `before` wins when both cursors are given, with
    /// `after` then acting as the far bound.
    pub fn scan(&self) -> (bool, bool) {
        let asc = self.order == Order::Asc;
        if self.before.is_some() {
            (!asc, true)
        } else {
            (asc, false)
        }
    }
}

/// The `after`/`before` cursors of a list, resolved to the sequence numbers they stand at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursors {
    /// Where `after` stands, if given.
    pub after: Option<i64>,
    /// Where `before` stands, if given.
    pub before: Option<i64>,
}

impl<T> Page<T> {
    /// A page with nothing on it.
    pub fn empty() -> Self {
        Self {
            data: Vec::new(),
            has_more: false,
        }
    }
}

impl ListParams {
    /// Resolves the cursors with `lookup` (a cursor's id → its sequence number, `None` if no
    /// such object is in the list). `Ok(None)` when a cursor names no object of the list: the
    /// page is then empty, as OpenAI answers.
    pub async fn resolve_cursors<'a, F, Fut, E>(&'a self, lookup: F) -> Result<Option<Cursors>, E>
    where
        F: Fn(&'a str) -> Fut,
        Fut: std::future::Future<Output = Result<Option<i64>, E>>,
    {
        let mut out = Cursors::default();
        for (cursor, slot) in [
            (&self.after, &mut out.after),
            (&self.before, &mut out.before),
        ] {
            if let Some(id) = cursor {
                match lookup(id).await? {
                    Some(seq) => *slot = Some(seq),
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(out))
    }
}
