//! Figures, each written twice: SVG (text as text, for the Markdown report) and
//! PNG (rasterised with DejaVu Sans, bundled in `assets/` under its Bitstream
//! Vera licence, since a bitmap needs glyphs and the host may have no fonts).
//!
//! - training curves per group: loss terms (L, L1, L2, L3 of method.md §3) and
//!   the headline ACC / NMI / ARI per evaluation epoch, means over the seeds;
//! - ensemble diversity per epoch (the paper's Figure 1): the mean pairwise NMI
//!   of the M members with a band of plus or minus its standard deviation over
//!   the pairs, seeds averaged;
//! - time to accuracy: each run's headline ACC against its training minutes
//!   ([`speed`]), with the raw-pixel k-means baseline;
//! - [`scatter_plot`]: a 2-D embedding coloured by true class (Figure 2, t-SNE),
//!   called by the trainer for each run.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::aggregate::{epoch_curves, Curve, Group, Stat};
use super::collect::Collected;
use super::{metric_source, speed};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Register the bundled font as plotters' `sans-serif` (its default family)
/// before any text is laid out, for both backends.
fn ensure_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic, FontStyle::Oblique] {
            // The bytes are a valid TrueType font compiled into the binary: a failure is a bug.
            plotters::style::register_font("sans-serif", style, FONT)
                .unwrap_or_else(|_| panic!("the bundled assets/DejaVuSans.ttf does not parse"));
        }
    });
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a figure: {e:?}")
}

/// One curve, optionally with a band `(x, low, high)` around it.
#[derive(Debug, Clone)]
struct Line {
    /// Legend text; empty: no legend entry (a line that repeats a colour).
    name: String,
    /// Index into [`colour`].
    colour: usize,
    points: Vec<(f64, f64)>,
    band: Option<Vec<(f64, f64, f64)>>,
}

/// One chart of a figure.
#[derive(Debug, Clone)]
struct Panel {
    title: String,
    x_desc: String,
    y_desc: String,
    lines: Vec<Line>,
    /// Fixed y range (metrics live in [0, 1]); None: fitted to the data.
    y_range: Option<(f64, f64)>,
    /// x is a count (epochs): only whole ticks are labelled.
    x_whole: bool,
    /// Where the legend goes: away from where the curves usually are
    /// (losses fall, scores rise).
    legend: SeriesLabelPosition,
}

/// A colour per line, readable on white and stable across figures.
fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

fn draw_panels<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, panels: &[Panel]) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, p) in areas.iter().zip(panels) {
        draw_panel(area, p)?;
    }
    root.present().map_err(plot_err)?;
    Ok(())
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One panel: axes fitted to its lines (or its fixed y range), the lines with
/// their bands, and the legend when a line has a name.
fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> anyhow::Result<()> {
    let xs = p.lines.iter().flat_map(|l| l.points.iter().map(|q| q.0));
    let (x0, x1) = padded(xs.clone().fold(f64::INFINITY, f64::min), xs.fold(f64::NEG_INFINITY, f64::max));
    let (y0, y1) = p.y_range.unwrap_or_else(|| {
        let ys = p
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|q| q.1).chain(l.band.iter().flatten().flat_map(|b| [b.1, b.2])));
        padded(ys.clone().fold(f64::INFINITY, f64::min), ys.fold(f64::NEG_INFINITY, f64::max))
    });
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    // Epochs are integers: label only whole ticks, and keep the mesh light.
    let whole = |x: &f64| {
        if x.fract().abs() < 1e-9 {
            format!("{x:.0}")
        } else if p.x_whole {
            String::new()
        } else {
            format!("{x:.1}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(&p.x_desc)
        .y_desc(&p.y_desc)
        .x_label_formatter(&whole)
        .light_line_style(WHITE)
        .draw()
        .map_err(plot_err)?;
    for l in &p.lines {
        draw_line(&mut chart, l)?;
    }
    if p.lines.iter().any(|l| !l.name.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(p.legend.clone())
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

/// A line, its band (mean ± std) shaded under it, its legend entry; a dot when
/// it has a single point (which draws no line).
fn draw_line<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, l: &Line) -> anyhow::Result<()> {
    let c = colour(l.colour);
    if let Some(band) = &l.band {
        let poly: Vec<(f64, f64)> =
            band.iter().map(|b| (b.0, b.2)).chain(band.iter().rev().map(|b| (b.0, b.1))).collect();
        chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.2).filled()))).map_err(plot_err)?;
    }
    let series = chart.draw_series(LineSeries::new(l.points.iter().copied(), c.stroke_width(2))).map_err(plot_err)?;
    if !l.name.is_empty() {
        series
            .label(l.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    if l.points.len() == 1 {
        chart.draw_series(l.points.iter().map(|&q| Circle::new(q, 3, c.filled()))).map_err(plot_err)?;
    }
    Ok(())
}

/// Write the panels side by side as `png` and `svg`.
fn save_panels(panels: &[Panel], png: &Path, svg: &Path) -> anyhow::Result<()> {
    let size = (560 * panels.len().max(1) as u32, 420);
    create_parents(&[png, svg])?;
    draw_panels(SVGBackend::new(svg, size).into_drawing_area(), panels)
        .map_err(|e| e.context(format!("writing {}", svg.display())))?;
    write_png(png, size, |area| draw_panels(area, panels))
}

/// Figure 2: `points[i]` coloured by `labels[i]` (one colour and legend entry per
/// class, classes ascending), written as `png` and `svg`.
pub fn scatter_plot(points: &[[f64; 2]], labels: &[i64], title: &str, png: &Path, svg: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(points.len() == labels.len(), "scatter_plot: {} points but {} labels", points.len(), labels.len());
    create_parents(&[png, svg])?;
    draw_scatter(SVGBackend::new(svg, (640, 600)).into_drawing_area(), points, labels, title)
        .map_err(|e| e.context(format!("writing {}", svg.display())))?;
    write_png(png, (640, 600), |area| draw_scatter(area, points, labels, title))
}

/// Figure 2 from a run's `figures/tsne.csv` (`x,y,label` rows, written by the
/// trainer through `store::RunDir::write_tsne_csv`), drawn to `png` and `svg`.
pub fn tsne_figure(csv: &Path, title: &str, png: &Path, svg: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(csv).map_err(|e| anyhow!("reading {}: {e}", csv.display()))?;
    let (mut points, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || anyhow!("{}:{}: expected `x,y,label`, found {line:?}", csv.display(), i + 1);
        let mut cells = line.split(',');
        let mut next = || cells.next().map(str::trim).ok_or_else(bad);
        let (x, y, l) = (next()?, next()?, next()?);
        points.push([x.parse().map_err(|_| bad())?, y.parse().map_err(|_| bad())?]);
        labels.push(l.parse().map_err(|_| bad())?);
    }
    anyhow::ensure!(!points.is_empty(), "{} holds no points", csv.display());
    scatter_plot(&points, &labels, title, png, svg)
}

/// The font is loaded and the figure's folders exist before anything is drawn.
fn create_parents(paths: &[&Path]) -> anyhow::Result<()> {
    ensure_font();
    for p in paths {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).map_err(|e| anyhow!("creating {}: {e}", d.display()))?;
        }
    }
    Ok(())
}

/// Draw into an RGB buffer with plotters' bitmap backend and encode it with the
/// `image` crate the dataset readers use (plotters' own encoder would build a
/// second, older `image` and `png`).
fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    draw(BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area())
        .map_err(|e| e.context(format!("drawing {}", path.display())))?;
    let img = image::RgbImage::from_raw(w, h, buf).expect("the buffer holds w x h RGB pixels");
    img.save_with_format(path, image::ImageFormat::Png).map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

fn draw_scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    points: &[[f64; 2]],
    labels: &[i64],
    title: &str,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let fold = |i: usize| {
        let it = points.iter().map(move |p| p[i]).filter(|v| v.is_finite());
        padded(it.clone().fold(f64::INFINITY, f64::min), it.fold(f64::NEG_INFINITY, f64::max))
    };
    let ((x0, x1), (y0, y1)) = (fold(0), fold(1));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    chart.configure_mesh().disable_mesh().draw().map_err(plot_err)?;
    let mut classes: Vec<i64> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for (i, &k) in classes.iter().enumerate() {
        let c = colour(i);
        let pts = points.iter().zip(labels).filter(move |(_, &l)| l == k).map(|(p, _)| (p[0], p[1]));
        chart
            .draw_series(pts.map(move |q| Circle::new(q, 2, c.filled())))
            .map_err(plot_err)?
            .label(format!("class {k}"))
            .legend(move |(x, y)| Circle::new((x + 5, y), 4, c.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

/// A figure of the report: its title and paths relative to the report file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FigureLink {
    pub title: String,
    pub svg: String,
    pub png: String,
}

/// The figures [`report_figures`] wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReportFigures {
    /// One per group that logged epochs, in group order.
    pub curves: Vec<FigureLink>,
    /// Figure 1, when any run logged `diversity.mean`.
    pub diversity: Option<FigureLink>,
    /// ACC against training minutes, when some done run was evaluated twice.
    pub speed: Option<FigureLink>,
}

/// Draw the training curves of every group, the diversity figure and the
/// time-to-accuracy figure into `dir`; `rel` is `dir` as the report links it.
pub fn report_figures(c: &Collected, groups: &[Group], dir: &Path, rel: &str) -> anyhow::Result<ReportFigures> {
    let mut wanted: Vec<String> = crate::record::LOSS_TERMS.iter().map(|s| s.to_string()).collect();
    for src in ["codes", "kmeans_target"] {
        for m in crate::record::SCORES {
            wanted.push(format!("{src}.{m}"));
        }
    }
    wanted.extend(["diversity.mean".to_string(), "diversity.std".to_string()]);
    let wanted_ref: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let curves = epoch_curves(c, groups, &wanted_ref)?;
    let mut out = ReportFigures::default();
    let mut diversity_lines = Vec::new();
    for (i, (g, cv)) in groups.iter().zip(&curves).enumerate() {
        if cv.is_empty() {
            continue;
        }
        let stem = format!("curves-{}", i + 1);
        save_panels(&curve_panels(g, cv), &dir.join(format!("{stem}.png")), &dir.join(format!("{stem}.svg")))?;
        out.curves.push(FigureLink {
            title: g.label(),
            svg: format!("{rel}/{stem}.svg"),
            png: format!("{rel}/{stem}.png"),
        });
        if let Some(line) = diversity_line(g, cv, diversity_lines.len()) {
            diversity_lines.push(line);
        }
    }
    out.diversity = diversity_figure(diversity_lines, dir, rel)?;
    out.speed = speed_figure(c, groups, dir, rel)?;
    Ok(out)
}

/// One group's two panels: its losses per epoch, and the headline scores of
/// its metric source ([`metric_source`]) per evaluation.
fn curve_panels(g: &Group, cv: &BTreeMap<String, Curve>) -> [Panel; 2] {
    let src = g.config.as_ref().map(|c| metric_source(&c.loss)).unwrap_or("codes");
    let losses: Vec<Line> = crate::record::LOSS_TERMS
        .iter()
        .enumerate()
        .filter_map(|(j, k)| {
            cv.get(*k).map(|p| Line { name: (*k).to_string(), colour: j, points: p.clone(), band: None })
        })
        .collect();
    let metrics: Vec<Line> = crate::record::SCORES
        .iter()
        .enumerate()
        .filter_map(|(j, m)| {
            cv.get(&format!("{src}.{m}")).map(|p| Line {
                name: m.to_uppercase(),
                colour: j,
                points: p.clone(),
                band: None,
            })
        })
        .collect();
    [
        Panel {
            title: "training losses".into(),
            x_desc: "epoch".into(),
            y_desc: "loss".into(),
            lines: losses,
            y_range: None,
            x_whole: true,
            legend: SeriesLabelPosition::UpperRight,
        },
        Panel {
            title: format!("clustering ({src})"),
            x_desc: "epoch".into(),
            y_desc: "score".into(),
            lines: metrics,
            y_range: Some((0.0, 1.0)),
            x_whole: true,
            legend: SeriesLabelPosition::LowerRight,
        },
    ]
}

/// One group's line of Figure 1: mean diversity per epoch with a ± std band.
fn diversity_line(g: &Group, cv: &BTreeMap<String, Curve>, colour: usize) -> Option<Line> {
    let mean = cv.get("diversity.mean")?;
    let band = cv.get("diversity.std").map(|s| {
        mean.iter().filter_map(|&(e, m)| s.iter().find(|q| q.0 == e).map(|q| (e, m - q.1, m + q.1))).collect()
    });
    Some(Line { name: g.label(), colour, points: mean.clone(), band })
}

/// Figure 1 (ensemble diversity per epoch), when any group logged it.
fn diversity_figure(lines: Vec<Line>, dir: &Path, rel: &str) -> anyhow::Result<Option<FigureLink>> {
    if lines.is_empty() {
        return Ok(None);
    }
    let panel = Panel {
        title: "ensemble diversity (pairwise NMI of the M members)".into(),
        x_desc: "epoch".into(),
        y_desc: "NMI".into(),
        lines,
        y_range: Some((0.0, 1.0)),
        x_whole: true,
        legend: SeriesLabelPosition::LowerRight,
    };
    let (png, svg) = (dir.join("diversity.png"), dir.join("diversity.svg"));
    save_panels(std::slice::from_ref(&panel), &png, &svg)?;
    Ok(Some(FigureLink {
        title: "Ensemble diversity per epoch (Figure 1)".into(),
        svg: format!("{rel}/diversity.svg"),
        png: format!("{rel}/diversity.png"),
    }))
}

/// Colour of group `g` in the time-to-accuracy figure: grey (7) is kept for the
/// raw-pixel baseline.
fn group_colour(g: usize) -> usize {
    if g >= 7 {
        g + 1
    } else {
        g
    }
}

/// The signals beside ACC that read no label, against the same minutes: the
/// epochs' L2 with ln K (the collapse level) as a grey line, and the clusters
/// the codes use. Unlabelled lines: the colours are the ACC panel's.
fn label_free_panels(c: &Collected, groups: &[Group]) -> Vec<Panel> {
    let lines_of = |signal| -> Vec<Line> {
        speed::signal_curves(c, groups, signal)
            .into_iter()
            .map(|rc| Line { name: String::new(), colour: group_colour(rc.group), points: rc.points, band: None })
            .collect()
    };
    let mut l2 = lines_of(speed::Signal::L2);
    let k = c.runs.iter().filter_map(|r| r.config.as_ref()).map(|cfg| cfg.data.clusters).max();
    let end = l2.iter().flat_map(|l| l.points.iter().map(|p| p.0)).fold(0.0, f64::max);
    if let (Some(k), false) = (k, l2.is_empty()) {
        let ln_k = (k as f64).ln();
        l2.push(Line {
            name: format!("ln K = {ln_k:.2}"),
            colour: 7,
            points: vec![(0.0, ln_k), (end, ln_k)],
            band: None,
        });
    }
    let used = lines_of(speed::Signal::ClustersUsed);
    let panel = |title: &str, y_desc: &str, lines: Vec<Line>, y_range| Panel {
        title: title.into(),
        x_desc: "training minutes".into(),
        y_desc: y_desc.into(),
        lines,
        y_range,
        x_whole: false,
        legend: SeriesLabelPosition::UpperRight,
    };
    let mut out = Vec::new();
    if !l2.is_empty() {
        out.push(panel("L2 per epoch (no labels)", "L2", l2, None));
    }
    if !used.is_empty() {
        let top = k.map_or(10.0, |k| k as f64 + 1.0);
        out.push(panel("clusters used (no labels)", "clusters", used, Some((0.0, top))));
    }
    out
}

/// Each done run's headline ACC against its training minutes ([`speed`]), a
/// colour per group, all seeds drawn; the raw-pixel k-means mean as a grey line.
fn speed_figure(c: &Collected, groups: &[Group], dir: &Path, rel: &str) -> anyhow::Result<Option<FigureLink>> {
    let curves = speed::run_curves(c, groups);
    if !speed::has_curves(&curves) {
        return Ok(None);
    }
    let mut lines = Vec::new();
    let mut labelled = vec![false; groups.len()];
    for rc in &curves {
        let name = if labelled[rc.group] {
            String::new()
        } else {
            labelled[rc.group] = true;
            let g = &groups[rc.group];
            format!("{} ({})", g.label(), g.method().unwrap_or_default())
        };
        lines.push(Line { name, colour: group_colour(rc.group), points: rc.points.clone(), band: None });
    }
    let end = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)).fold(0.0, f64::max);
    if let Some(m) = Stat::of(&c.done_metric("kmeans_pixels.acc")).mean {
        lines.push(Line {
            name: "k-means on the raw pixels".into(),
            colour: 7,
            points: vec![(0.0, m), (end, m)],
            band: None,
        });
    }
    let panel = Panel {
        title: "ACC against training time (every run)".into(),
        x_desc: "training minutes (evaluations not counted)".into(),
        y_desc: "ACC".into(),
        lines,
        y_range: Some((0.0, 1.0)),
        x_whole: false,
        legend: SeriesLabelPosition::LowerRight,
    };
    let mut panels = vec![panel];
    panels.extend(label_free_panels(c, groups));
    let (png, svg) = (dir.join("time-to-accuracy.png"), dir.join("time-to-accuracy.svg"));
    save_panels(&panels, &png, &svg)?;
    Ok(Some(FigureLink {
        title: "ACC against training minutes".into(),
        svg: format!("{rel}/time-to-accuracy.svg"),
        png: format!("{rel}/time-to-accuracy.png"),
    }))
}
