//! Every point, page by page, as an iterator.

use super::handle::Collection;
use super::types::{Include, Page, Point};
use crate::error::Result;
use crate::filter::Filter;

/// Points by id, ascending, read a page at a time ([`Collection::points`]). Each page is one
/// consistent read; a write between two pages shows in the pages after it, and a point that
/// is there throughout is yielded exactly once. After an error the iterator ends.
pub struct Points {
    collection: Collection,
    filter: Option<Filter>,
    include: Include,
    page: std::vec::IntoIter<Point>,
    next: Option<u64>,
}

/// Points a page holds: many enough to amortise a read, few enough to stay small.
const PAGE: usize = 1000;

impl Collection {
    /// Every point passing `filter` (all of them without one), by id ascending, with what
    /// `include` asks for: [`Collection::scroll`] from `0` until the last page, as an iterator.
    pub fn points(&self, filter: Option<Filter>, include: Include) -> Points {
        Points {
            collection: self.clone(),
            filter,
            include,
            page: Vec::new().into_iter(),
            next: Some(0),
        }
    }
}

impl Iterator for Points {
    type Item = Result<Point>;

    fn next(&mut self) -> Option<Result<Point>> {
        loop {
            if let Some(p) = self.page.next() {
                return Some(Ok(p));
            }
            let start = self.next.take()?;
            match self
                .collection
                .scroll(start, PAGE, self.filter.as_ref(), self.include)
            {
                Ok(Page { points, next }) => {
                    self.page = points.into_iter();
                    self.next = next;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
