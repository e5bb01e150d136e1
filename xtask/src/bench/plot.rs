//! `--plot`: the results as an SVG chart beside `results.json`, because a chart is read
//! faster than a table. Two panels: requests/s per scenario with the two floors drawn
//! as horizontal reference lines, and p50/p99 latency per scenario.
//!
//! It reads the JSON the bench wrote (only the fields it draws), so that a chart can be
//! drawn again from any earlier run (`--plot-only PATH`) without measuring.

use std::path::Path;

use anyhow::{Context, anyhow};
use plotters::prelude::*;
use serde::Deserialize;

/// The parts of `results.json` the chart draws; every other field is ignored.
#[derive(Debug, Deserialize)]
pub struct PlotInput {
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub machine: PlotMachine,
    #[serde(default)]
    pub settings: PlotSettings,
    pub scenarios: Vec<PlotRow>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PlotMachine {
    #[serde(default)]
    pub nproc: usize,
    #[serde(default)]
    pub cpu_model: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PlotSettings {
    #[serde(default)]
    pub quick: bool,
    #[serde(default)]
    pub connections: usize,
    #[serde(default)]
    pub server_cores: Option<usize>,
    /// Runs the figures are medians of (absent in files from before `--runs`).
    #[serde(default)]
    pub runs: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub struct PlotRow {
    /// The scenario's key, as `--scenario` names it (`floor-http`, `floor`, `a`, …).
    pub scenario: String,
    pub requests_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 460;
const BAR: RGBColor = RGBColor(70, 110, 180);
const P99: RGBColor = RGBColor(200, 90, 60);
const FLOOR_HTTP_LINE: RGBColor = RGBColor(170, 30, 30);
const FLOOR_LINE: RGBColor = RGBColor(30, 130, 60);

/// Reads `json`, draws the chart and writes it to `svg`.
pub fn plot_file(json: &Path, svg: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(json).with_context(|| format!("cannot read {}", json.display()))?;
    let input: PlotInput = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a bench results file", json.display()))?;
    let chart = draw(&input)?;
    if let Some(dir) = svg.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(svg, chart).with_context(|| format!("cannot write {}", svg.display()))
}

/// The chart as SVG text.
pub fn draw(input: &PlotInput) -> anyhow::Result<String> {
    if input.scenarios.is_empty() {
        return Err(anyhow!("no scenario to plot"));
    }
    let mut svg = String::new();
    draw_into(input, &mut svg).map_err(|e| anyhow!("cannot draw the chart: {e}"))?;
    Ok(svg)
}

fn title(input: &PlotInput) -> String {
    // To the second: `2026-12-01T10:59:54`.
    let date = input.date.get(..19).unwrap_or(&input.date);
    let mut title = format!("cargo xtask bench  {date}");
    if input.machine.nproc > 0 {
        title.push_str(&format!(
            "  |  {} × {}",
            input.machine.nproc, input.machine.cpu_model
        ));
    }
    if input.settings.connections > 0 {
        title.push_str(&format!("  |  {} connections", input.settings.connections));
    }
    if let Some(cores) = input.settings.server_cores {
        title.push_str(&format!(", server on {cores} core(s)"));
    }
    if input.settings.quick {
        title.push_str(" (--quick)");
    }
    if let Some(runs) = input.settings.runs.filter(|runs| *runs > 1) {
        title.push_str(&format!("  |  median of {runs} runs"));
    }
    title
}

fn draw_into(
    input: &PlotInput,
    svg: &mut String,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let rows = &input.scenarios;
    let count = i32::try_from(rows.len())?;
    // An integer range is inclusive as segments: `0..last` gives one slot per row.
    let last = count - 1;
    let key = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| rows.get(i))
            .map_or_else(String::new, |r| r.scenario.clone()),
        _ => String::new(),
    };

    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(36);
    head.titled(&title(input), ("sans-serif", 16))?;
    let (left, right) = body.split_horizontally(WIDTH / 2);

    // Requests/s, the floors as reference lines.
    let top = rows.iter().map(|r| r.requests_per_sec).fold(0.0, f64::max) * 1.25;
    let mut chart = ChartBuilder::on(&left)
        .caption("requests/s", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d((0..last).into_segmented(), 0.0..top.max(1.0))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&key)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    chart.draw_series(rows.iter().zip(0..).map(|(r, i)| {
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), r.requests_per_sec),
            ],
            BAR.mix(0.75).filled(),
        );
        bar.set_margin(0, 0, 8, 8);
        bar
    }))?;
    for (floor, color) in [("floor-http", FLOOR_HTTP_LINE), ("floor", FLOOR_LINE)] {
        if let Some(r) = rows.iter().find(|r| r.scenario == floor) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (SegmentValue::Exact(0), r.requests_per_sec),
                        (SegmentValue::Last, r.requests_per_sec),
                    ],
                    color.stroke_width(2),
                )))?
                .label(format!("{floor}: {:.0} req/s", r.requests_per_sec))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;

    // p50 (left half of each slot) and p99 (right half), in milliseconds.
    let ms = |us: u64| us as f64 / 1000.0;
    let top = rows.iter().map(|r| ms(r.p99_us)).fold(0.0, f64::max) * 1.25;
    let mut chart = ChartBuilder::on(&right)
        .caption("latency, ms: p50 and p99", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d((0..last).into_segmented(), 0.0..top.max(0.1))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&key)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    chart
        .draw_series(rows.iter().zip(0..).map(|(r, i)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::CenterOf(i), ms(r.p50_us)),
                ],
                BAR.mix(0.75).filled(),
            );
            bar.set_margin(0, 0, 8, 1);
            bar
        }))?
        .label("p50")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BAR.mix(0.75).filled()));
    chart
        .draw_series(rows.iter().zip(0..).map(|(r, i)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::CenterOf(i), 0.0),
                    (SegmentValue::Exact(i + 1), ms(r.p99_us)),
                ],
                P99.mix(0.75).filled(),
            );
            bar.set_margin(0, 0, 1, 8);
            bar
        }))?
        .label("p99")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], P99.mix(0.75).filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"{
        "date": "2026-12-01T10:00:00Z",
        "machine": {"nproc": 2, "cpu_model": "AMD EPYC", "load_at_start": 1.2},
        "settings": {"connections": 32, "server_cores": 1, "runs": 3},
        "scenarios": [
            {"scenario": "floor-http", "name": "floor-http", "requests_per_sec": 61000.0, "p50_us": 480, "p99_us": 900},
            {"scenario": "floor", "name": "floor", "requests_per_sec": 31000.0, "p50_us": 1000, "p99_us": 1190},
            {"scenario": "a", "name": "a get_datetime", "requests_per_sec": 20000.0, "p50_us": 1540, "p99_us": 2490},
            {"scenario": "b", "name": "b greet 1 user", "requests_per_sec": 13000.0, "p50_us": 2470, "p99_us": 3230},
            {"scenario": "c", "name": "c greet 100 users", "requests_per_sec": 12500.0, "p50_us": 2560, "p99_us": 3520},
            {"scenario": "d", "name": "d greet each once", "requests_per_sec": 1400.0, "p50_us": 23280, "p99_us": 27500}
        ],
        "targets": []
    }"#;

    #[test]
    fn the_chart_is_an_svg_naming_every_scenario_and_both_floors() {
        let input: PlotInput = serde_json::from_str(FIXTURE).expect("fixture parses");
        let svg = draw(&input).expect("the chart draws");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for key in ["floor-http", "floor", "a", "b", "c", "d"] {
            // plotters writes a text element's content on a line of its own.
            assert!(svg.contains(&format!("\n{key}\n</text>")), "no label {key}");
        }
        assert!(svg.contains("floor-http: 61000 req/s"));
        assert!(svg.contains("floor: 31000 req/s"));
        assert!(svg.contains("median of 3 runs"));
    }

    #[test]
    fn a_file_is_written_beside_the_results_and_no_scenarios_is_an_error() {
        let dir = std::env::temp_dir().join(format!("obo-bench-plot-{}", std::process::id()));
        let json = dir.join("results.json");
        let svg = dir.join("results.svg");
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(&json, FIXTURE).expect("fixture written");
        plot_file(&json, &svg).expect("plotted");
        let text = std::fs::read_to_string(&svg).expect("svg written");
        assert!(text.contains("<svg") && text.contains("c"));

        std::fs::write(&json, r#"{"scenarios": []}"#).expect("empty written");
        assert!(plot_file(&json, &svg).is_err());
        std::fs::write(&json, "not json").expect("garbage written");
        assert!(plot_file(&json, &svg).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
