//! `berth history [VIEW]`: what `berth watch` recorded.

use std::io::Write;

use crate::args::Output;
use crate::cli::{GlobalArgs, HistoryArgs, HistoryView};
use crate::commands::{stdout, Stdout};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::history::query::{History, HistoryEvent, HistoryFilter};
use crate::history::{when, HistoryError};
use crate::render;
use crate::render::history::EventsTable;
use crate::render::json::ArrayWriter;
use crate::stderr::say;

pub fn run(args: &HistoryArgs, global: &GlobalArgs) -> Result<ExitCode, Error> {
    // The view's own arguments first: a mistake is a usage error (2)
    // whether or not there is a history yet.
    let at =
        match (args.view, args.time) {
            (HistoryView::At, Some(time)) => Some(time),
            (HistoryView::At, None) => {
                return Err(Error::Usage(format!(
                    "berth history at needs a time: {} (try 'berth history --help')",
                    when::TIME_FORMS
                )))
            }
            (_, Some(_)) => return Err(Error::Usage(
                "only berth history at takes a time; other views take --since and --until (try 'berth history --help')"
                    .to_string(),
            )),
            (_, None) => None,
        };
    let peers_port = match (args.view, args.port) {
        (HistoryView::Peers, None) => {
            return Err(Error::Usage(
                "berth history peers needs --port PORT: the port whose peers to show (try 'berth history --help')"
                    .to_string(),
            ))
        }
        (_, port) => port,
    };
    let path = args.path()?;
    let history = match History::open(&path) {
        Ok(history) => history,
        Err(missing @ HistoryError::Missing { .. }) => {
            say!("berth: {missing}");
            return Ok(ExitCode::NothingFound);
        }
        Err(other) => return Err(other.into()),
    };
    let filter = args.filter();
    let output = Output::new(args.json, global);
    let found = match args.view {
        HistoryView::Events => write_events(&history, &filter, &output)? > 0,
        HistoryView::At => {
            let listeners = history.at(at.unwrap_or_else(std::time::SystemTime::now), &filter)?;
            output.write(
                |out| render::json::write_array(out, &listeners),
                |out, style| render::history::write_at(out, &listeners, style),
            )?;
            !listeners.is_empty()
        }
        HistoryView::Listeners => {
            let listeners = history.listeners(&filter)?;
            output.write(
                |out| render::json::write_array(out, &listeners),
                |out, style| render::history::write_listeners(out, &listeners, style),
            )?;
            !listeners.is_empty()
        }
        HistoryView::Peers => {
            let port = peers_port.unwrap_or(0);
            let peers = history.peers(port, &filter)?;
            output.write(
                |out| render::json::write_array(out, &peers),
                |out, style| render::history::write_peers(out, &peers, style),
            )?;
            !peers.is_empty()
        }
    };
    if !found && !args.json {
        say!("berth: nothing in the history {} matches", crate::printable::printable(&path.to_string_lossy()));
    }
    Ok(if found { ExitCode::Success } else { ExitCode::NothingFound })
}

/// The events, written as they are read (a long history does not fit in
/// memory); how many.
fn write_events(history: &History, filter: &HistoryFilter, output: &Output) -> Result<usize, Error> {
    let mut out = stdout();
    let count = match output {
        Output::Json => {
            let mut array = ArrayWriter::start(&mut out)?;
            let count = history.each_event(filter, |event| Ok(array.push(&mut out, &event)?))?;
            array.finish(&mut out)?;
            count
        }
        Output::Text(style) => {
            let mut first_page = Vec::new();
            let mut table: Option<EventsTable> = None;
            let start = |first_page: &mut Vec<HistoryEvent>, out: &mut Stdout| -> Result<EventsTable, Error> {
                let table = EventsTable::new(first_page);
                table.write_header(out, style)?;
                for event in first_page.drain(..) {
                    table.write(out, &event, style)?;
                }
                Ok(table)
            };
            let count = history.each_event(filter, |event| {
                match &table {
                    Some(table) => table.write(&mut out, &event, style)?,
                    None => {
                        first_page.push(event);
                        if first_page.len() >= EventsTable::FIRST_PAGE {
                            table = Some(start(&mut first_page, &mut out)?);
                        }
                    }
                }
                Ok(())
            })?;
            if table.is_none() && !first_page.is_empty() {
                start(&mut first_page, &mut out)?;
            }
            count
        }
    };
    out.flush()?;
    Ok(count)
}
