//! `berth history [VIEW]`: what `berth watch` recorded.

use crate::args::Output;
use crate::cli::{GlobalArgs, HistoryArgs, HistoryView};
use crate::error::Error;
use crate::exit_codes::ExitCode;
use crate::history::query::History;
use crate::history::{when, HistoryError};
use crate::render;
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
        HistoryView::Events => {
            let events = history.events(&filter)?;
            output.write(
                |out| render::json::write_array(out, &events),
                |out, style| render::history::write_events(out, &events, style),
            )?;
            !events.is_empty()
        }
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
