//! Which file line each message of an import came from, so a rejection the
//! server reports by stream position is shown by line. Only the places where
//! the line stops being "the previous message's line + 1" are kept (a header,
//! an empty or unreadable line, a record over several lines), so a regular
//! file of any length needs a few entries.

/// Entries kept at most; past them, later positions are reported as such.
const MAX_POINTS: usize = 1 << 20;

/// Message positions (from 1) to the lines their rows start on.
#[derive(Debug, Default)]
pub struct Lines {
    /// (position, line) where a run of consecutive lines starts.
    points: Vec<(u64, u64)>,
    /// The last position noted, and whether the map stopped being exact.
    last: u64,
    full: bool,
}

impl Lines {
    /// Notes that message `position` (the next one) comes from `line`.
    pub fn note(&mut self, position: u64, line: u64) {
        if self.full {
            return;
        }
        self.last = position;
        if self.line_of(position) == Some(line) {
            return;
        }
        if self.points.len() >= MAX_POINTS {
            self.full = true;
            self.last = position - 1;
            return;
        }
        self.points.push((position, line));
    }

    /// The line of message `position`, when known.
    pub fn line_of(&self, position: u64) -> Option<u64> {
        if position == 0 || position > self.last {
            return None;
        }
        let at = self.points.partition_point(|(p, _)| *p <= position).checked_sub(1)?;
        let (p, line) = self.points[at];
        Some(line + (position - p))
    }

    /// Entries held (a regular file needs one).
    #[cfg(test)]
    pub fn entries(&self) -> usize {
        self.points.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_lines_with_few_entries() {
        // Header on line 1; rows 2-4; an empty line 5; rows 6-7; a row over
        // lines 8-9; row 10.
        let rows = [(1, 2), (2, 3), (3, 4), (4, 6), (5, 7), (6, 8), (7, 10)];
        let mut lines = Lines::default();
        for (p, l) in rows {
            lines.note(p, l);
        }
        for (p, l) in rows {
            assert_eq!(lines.line_of(p), Some(l), "position {p}");
        }
        assert_eq!(lines.line_of(0), None);
        assert_eq!(lines.line_of(8), None, "never sent");
        assert_eq!(lines.entries(), 3);

        let mut regular = Lines::default();
        (1..=100_000).for_each(|p| regular.note(p, p + 1));
        assert_eq!((regular.entries(), regular.line_of(99_999)), (1, Some(100_000)));
    }
}
