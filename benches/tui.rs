//! Terminal UI benchmark: `cargo bench --bench tui`.
//!
//! 1. Drawing one frame of a run with 10,000 steps and 100,000 lines of output in the pane
//!    (only what is visible is built): the median must be under 2 ms.
//! 2. Key latency under a flood: a synthetic engine prints 10,000 lines a second into the
//!    running step while keys are pressed; each key's latency is the time from injecting it
//!    to the flush of the first frame that shows its effect. It must be within one frame.

#![allow(clippy::unwrap_used)]

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use stepwise::engine::{Decisions, Event, Stream};
use stepwise::state::{RunState, RunbookRef, STATE_VERSION, Status, StepState};
use stepwise::tui::ui::theme::Theme;
use stepwise::tui::{App, Host, RunView, Runner, Screen, Session};
use tokio::sync::mpsc;

const STEPS: usize = 10_000;
const LINES: usize = 100_000;

fn big_view() -> RunView {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("stepwise: 1\nid: big\ntitle: A very long runbook\nsteps:\n");
    for i in 0..STEPS {
        yaml.push_str(&format!(
            "  - id: step-{i:05}\n    title: Step number {i}\n    description: Does **thing** {i}; see `docs`.\n    run: echo {i}\n"
        ));
    }
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, yaml).unwrap();
    let plan = Arc::new(stepwise::runbook::load(&path).expect("loads"));
    let t = jiff::Timestamp::now();
    let state = RunState {
        version: STATE_VERSION,
        name: "big".into(),
        runbook: RunbookRef {
            path,
            id: "big".into(),
            title: "A very long runbook".into(),
            hash: "h".into(),
        },
        workdir: "/".into(),
        created_at: t,
        updated_at: t,
        inputs: Default::default(),
        driven_on: None,
        last_check: None,
        steps: plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let st = StepState {
                    status: if i < STEPS / 2 {
                        Status::Succeeded
                    } else {
                        Status::Pending
                    },
                    ..StepState::default()
                };
                (s.key.clone(), st)
            })
            .collect(),
    };
    RunView::new(plan, &state, false, Vec::new(), Decisions::default())
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    (p(0.5), p(0.99), v[v.len() - 1])
}

fn render_bench() -> Duration {
    let mut view = big_view();
    let running = STEPS / 2;
    view.engine(Event::StepStarted {
        index: running,
        attempt: 1,
        at: std::time::Instant::now(),
    });
    for n in 0..LINES {
        view.engine(Event::Output {
            index: running,
            stream: if n % 50 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            },
            line: format!("{n:>6} some output of the step, with a bit of text to draw on screen"),
        });
    }
    let mut app = App::new(Screen::Run(Box::new(view)), false, Theme { color: true });
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut times = Vec::new();
    for i in 0..600 {
        app.tick = i;
        let t = Instant::now();
        terminal.draw(|f| stepwise::tui::ui::draw(f, &app)).unwrap();
        times.push(t.elapsed());
    }
    let (med, p99, max) = median(times[100..].to_vec());
    println!(
        "render: 120x40 frame, {STEPS} steps, {LINES} output lines: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        med.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    med
}

/// What the latency benchmark waits to see on screen.
#[derive(Default)]
struct Probe {
    expect: Option<(String, Instant)>,
    latencies: Vec<Duration>,
    frames: usize,
}

/// A TestBackend that, at each flush, checks whether the awaited text is on screen.
struct ProbeBackend {
    inner: TestBackend,
    probe: Arc<Mutex<Probe>>,
}

impl Backend for ProbeBackend {
    type Error = std::convert::Infallible;

    fn draw<'a, I: Iterator<Item = (u16, u16, &'a Cell)>>(
        &mut self,
        content: I,
    ) -> Result<(), Self::Error> {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, p: P) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(p)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, t: ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(t)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        let mut p = self.probe.lock().unwrap();
        p.frames += 1;
        if let Some((text, at)) = &p.expect {
            let buf = self.inner.buffer();
            // The detail pane's title row.
            let row: String = (0..buf.area.width)
                .map(|x| buf[(x, 2)].symbol().to_string())
                .collect();
            if row.contains(text.as_str()) {
                let took = at.elapsed();
                p.latencies.push(took);
                p.expect = None;
            }
        }
        Ok(())
    }
}

struct ChannelHost {
    keys: mpsc::UnboundedReceiver<TermEvent>,
}

impl Host for ChannelHost {
    async fn input(&mut self) -> Option<io::Result<TermEvent>> {
        self.keys.recv().await.map(Ok)
    }
    fn suspend(&mut self, _: &str) -> io::Result<()> {
        Ok(())
    }
    fn resume(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn copy(&mut self, _: &str) {}
}

fn latency_bench() -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let running = STEPS / 2;
        let view = big_view();
        let mut app = App::new(Screen::Run(Box::new(view)), false, Theme { color: true });
        let probe = Arc::new(Mutex::new(Probe::default()));
        let backend = ProbeBackend {
            inner: TestBackend::new(120, 40),
            probe: probe.clone(),
        };
        let mut terminal = Terminal::new(backend).unwrap();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (rep_tx, rep_rx) = mpsc::unbounded_channel();
        let (key_tx, key_rx) = mpsc::unbounded_channel();
        let mut runner = Runner::new(Default::default(), Vec::new());
        runner.session = Some(Session::from_channels(ev_rx, rep_rx));
        let mut host = ChannelHost { keys: key_rx };
        ev_tx
            .send(Event::StepStarted {
                index: running,
                attempt: 1,
                at: std::time::Instant::now(),
            })
            .unwrap();
        // The flood: 10,000 lines a second, 10 every millisecond, with 100,000 already there.
        for n in 0..LINES {
            ev_tx
                .send(Event::Output {
                    index: running,
                    stream: Stream::Stdout,
                    line: format!("{n:>6} earlier output"),
                })
                .unwrap();
        }
        let flood_tx = ev_tx.clone();
        let flood = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let mut n = 0u64;
            let start = Instant::now();
            loop {
                tick.tick().await;
                // Catch up to 10 lines per elapsed millisecond, whatever the timer did.
                let due = start.elapsed().as_millis() as u64 * 10;
                while n < due {
                    n += 1;
                    if flood_tx
                        .send(Event::Output {
                            index: running,
                            stream: Stream::Stdout,
                            line: format!("line {n}: the step prints fast"),
                        })
                        .is_err()
                    {
                        return n;
                    }
                }
            }
        });
        let driver = {
            let probe = probe.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let presses = 150;
                for i in 0..presses {
                    let (code, want) = if i % 2 == 0 {
                        (KeyCode::Char('j'), format!(" step-{:05} ·", running + 1))
                    } else {
                        (KeyCode::Char('k'), format!(" step-{:05} ·", running))
                    };
                    probe.lock().unwrap().expect = Some((want, Instant::now()));
                    key_tx
                        .send(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
                        .unwrap();
                    let waited = Instant::now();
                    while probe.lock().unwrap().expect.is_some() {
                        if waited.elapsed() > Duration::from_secs(2) {
                            panic!("key {i} never reached the screen");
                        }
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    // Irregular gaps between presses, as a person types.
                    tokio::time::sleep(Duration::from_millis(7 + (i as u64 * 13) % 23)).await;
                }
                key_tx
                    .send(TermEvent::Key(KeyEvent::new(
                        KeyCode::Char('q'),
                        KeyModifiers::NONE,
                    )))
                    .unwrap();
            })
        };
        let started = Instant::now();
        runner
            .run(&mut terminal, &mut app, &mut host, Vec::new())
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        driver.await.unwrap();
        drop(ev_tx);
        drop(rep_tx);
        flood.abort();
        let printed = match &app.screen {
            Screen::Run(v) => v.outputs[running].len(),
            _ => 0,
        };
        let p = probe.lock().unwrap();
        let (med, p99, max) = median(p.latencies.clone());
        println!(
            "latency: key press to frame while a step prints 10,000 lines/s: median {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} presses, {} frames in {:.1} s, {} lines in the pane)",
            med.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            p.latencies.len(),
            p.frames,
            secs,
            printed
        );
        med
    })
}

fn main() {
    // `cargo test --benches` runs this too: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let render = render_bench();
    let latency = latency_bench();
    let frame = stepwise::tui::event_loop::FRAME;
    println!(
        "budgets: render < 2 ms: {}; latency < one frame ({} ms): {}",
        if render < Duration::from_millis(2) {
            "ok"
        } else {
            "MISSED"
        },
        frame.as_millis(),
        if latency < frame { "ok" } else { "MISSED" }
    );
}
