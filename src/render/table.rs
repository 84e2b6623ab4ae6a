//! Aligned text tables. The last column is truncated to the terminal's width
//! on a terminal and never in a pipe.

use std::io::{self, Write};

use super::style::{Paint, Style};

pub struct Cell {
    pub text: String,
    pub paint: Paint,
}

impl Cell {
    /// A cell; control characters in `text` are escaped (see `printable`).
    pub fn new(text: impl Into<String>) -> Self {
        Cell::painted(text, Paint::Plain)
    }

    pub fn painted(text: impl Into<String>, paint: Paint) -> Self {
        let text = text.into();
        let text = match super::printable(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(safe) => safe,
        };
        Cell { text, paint }
    }
}

pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    /// Columns aligned to the right (numbers).
    right: Vec<bool>,
}

impl Table {
    pub fn new(headers: Vec<(&'static str, bool)>) -> Self {
        let right = headers.iter().map(|(_, r)| *r).collect();
        Table { headers: headers.into_iter().map(|(h, _)| h).collect(), rows: Vec::new(), right }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn write(&self, out: &mut impl Write, style: &Style) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.text.chars().count());
            }
        }
        let header: Vec<Cell> = self.headers.iter().map(|h| Cell::painted(*h, Paint::Bold)).collect();
        self.write_row(out, &header, &widths, style)?;
        for row in &self.rows {
            self.write_row(out, row, &widths, style)?;
        }
        Ok(())
    }

    fn write_row(&self, out: &mut impl Write, row: &[Cell], widths: &[usize], style: &Style) -> io::Result<()> {
        let mut line = String::with_capacity(128);
        let mut used = 0usize;
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            let width = widths[i];
            let mut text = cell.text.clone();
            if i == last {
                if let Some(total) = style.width {
                    let room = total.saturating_sub(used).max(8);
                    if text.chars().count() > room {
                        text = text.chars().take(room.saturating_sub(1)).collect::<String>() + "…";
                    }
                }
            }
            let pad = width.saturating_sub(text.chars().count());
            let painted = style.paint(cell.paint, &text);
            if i == last {
                if self.right[i] {
                    line.push_str(&" ".repeat(pad));
                }
                line.push_str(&painted);
            } else if self.right[i] {
                line.push_str(&" ".repeat(pad));
                line.push_str(&painted);
                line.push_str("  ");
            } else {
                line.push_str(&painted);
                line.push_str(&" ".repeat(pad + 2));
            }
            used += width + 2;
        }
        line.push('\n');
        out.write_all(line.as_bytes())
    }
}
