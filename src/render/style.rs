//! How text for people is painted, and how wide it may be. Whether to
//! colour (a terminal, NO_COLOR, --color) and the terminal's width are
//! decided by the CLI layer (`args::style`): render never reads the system.

#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    /// Terminal width when stdout is a terminal; None in pipes (never truncate there).
    pub width: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    Plain,
    Bold,
    Dim,
    Green,
    Yellow,
    Red,
    Cyan,
}

impl Style {
    #[cfg(test)]
    pub fn plain() -> Self {
        Style { color: false, width: None }
    }

    pub fn paint(&self, paint: Paint, text: &str) -> String {
        if !self.color || paint == Paint::Plain || text.is_empty() {
            return text.to_string();
        }
        let code = match paint {
            Paint::Plain => "",
            Paint::Bold => "1",
            Paint::Dim => "2",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Red => "31",
            Paint::Cyan => "36",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}
