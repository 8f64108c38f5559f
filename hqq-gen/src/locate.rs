//! Source positions of YAML entries, by path.
//!
//! serde_yaml reports locations only for syntax and type errors, so the
//! checks look entries up here: a second, event-level pass over the text
//! (yaml-rust2 keeps marks) records where every key and sequence item
//! starts, under a path such as `opcodes[3].code`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Where each entry of a YAML document starts.
#[derive(Debug, Default)]
pub struct Positions {
    by_path: HashMap<String, Position>,
}

impl Positions {
    /// Indexes `source`. A document yaml-rust2 cannot read yields an empty
    /// index (serde_yaml reports the syntax error itself).
    pub fn index(source: &str) -> Self {
        let mut recorder = Recorder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut recorder, false).is_err() {
            return Positions::default();
        }
        Positions {
            by_path: recorder.by_path,
        }
    }

    /// The position of `path`, or of its nearest recorded ancestor.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(p) = self.by_path.get(path) {
                return Some(*p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        /// Set when this mapping is a sequence item: its path and start
        /// mark. The item is recorded at its first key instead, because a
        /// block mapping's start mark sits at its first `:`.
        item: Option<(String, Position)>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    by_path: HashMap<String, Position>,
}

fn position(mark: Marker) -> Position {
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Recorder {
    /// The path of a node starting now, or `None` if the node is a mapping key
    /// (which is then remembered, with its position, for the value).
    fn node_path(&mut self, ev: &Event, mark: Marker) -> Option<String> {
        let at = position(mark);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { path, key, item }) => match key.take() {
                None => {
                    if let Some((item_path, _)) = item.take() {
                        self.by_path.entry(item_path).or_insert(at);
                    }
                    let name = match ev {
                        Event::Scalar(s, ..) => s.clone(),
                        _ => String::from("?"),
                    };
                    self.by_path.entry(join(path, &name)).or_insert(at);
                    *key = Some(name);
                    None
                }
                Some(name) => Some(join(path, &name)),
            },
            Some(Frame::Seq { path, index }) => {
                let full = format!("{path}[{index}]");
                *index += 1;
                if !matches!(ev, Event::MappingStart(..)) {
                    self.by_path.entry(full.clone()).or_insert(at);
                }
                Some(full)
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(..) | Event::Alias(_) => {
                self.node_path(&ev, mark);
            }
            // A container used as a mapping key gets a throw-away path so
            // that its end event pops its own frame.
            Event::MappingStart(..) => {
                let in_seq = matches!(self.stack.last(), Some(Frame::Seq { .. }));
                let path = self.node_path(&ev, mark).unwrap_or_else(|| "?".into());
                let item = in_seq.then(|| (path.clone(), position(mark)));
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    item,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node_path(&ev, mark).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                // An empty mapping item never saw a key: record its start.
                if let Some(Frame::Map {
                    item: Some((path, at)),
                    ..
                }) = self.stack.pop()
                {
                    self.by_path.entry(path).or_insert(at);
                }
            }
            _ => {}
        }
    }
}
