//! Charts drawn on the server as inline SVG (no script, nothing fetched): horizontal bars, monthly
//! stacked columns and lines of rates (0–100 %). Each chart is an `<svg role="img">` with a
//! `<title>` and an `aria-label`, a `viewBox` and `width="100%"` (it scales on a phone and prints),
//! and every text it shows escaped (unit and category names come from users). Series differ in
//! pattern (hatching) or dash and marker as well as colour, for readers who do not tell colours
//! apart; the page shows each chart's data table beside it.

use std::fmt::Write;

/// Colours that stay distinct for the common colour-vision deficiencies (Okabe–Ito).
const COLOURS: [&str; 7] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F"];
/// Line dashes, one per series: solid, dashed, dotted.
const DASHES: [&str; 3] = ["", "8 4", "2 3"];

const WIDTH: f64 = 640.0;
const FONT: &str = "font-family=\"'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif\"";

/// Escapes a text for SVG content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a label: integers without decimals, others with one.
fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn open(out: &mut String, id: &str, title: &str, height: f64) {
    let t = escape(title);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{id}\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" {FONT} font-size=\"15\"><title>{t}</title>"
    );
}

/// Fill patterns, one per series: plain, hatched one way, the other way, crossed, dotted…
fn patterns(out: &mut String, id: &str, n: usize) {
    out.push_str("<defs>");
    for i in 0..n {
        let c = COLOURS[i % COLOURS.len()];
        let mark = match i % 6 {
            0 => String::new(),
            1 => "<path d=\"M0,8 L8,0\" stroke=\"#fff\" stroke-width=\"2\"/>".into(),
            2 => "<path d=\"M0,0 L8,8\" stroke=\"#fff\" stroke-width=\"2\"/>".into(),
            3 => "<path d=\"M0,4 H8 M4,0 V8\" stroke=\"#fff\" stroke-width=\"1.5\"/>".into(),
            4 => "<circle cx=\"4\" cy=\"4\" r=\"1.6\" fill=\"#fff\"/>".into(),
            _ => "<path d=\"M0,2 H8 M0,6 H8\" stroke=\"#fff\" stroke-width=\"1.2\"/>".into(),
        };
        let _ = write!(
            out,
            "<pattern id=\"{id}-p{i}\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\"><rect width=\"8\" height=\"8\" fill=\"{c}\"/>{mark}</pattern>"
        );
    }
    out.push_str("</defs>");
}

/// A legend row of swatches (bars: the pattern; lines: the dash and marker).
fn legend(out: &mut String, id: &str, names: &[String], first: usize, y: f64, lines: bool) {
    let mut x = 8.0;
    for (k, name) in names.iter().enumerate() {
        let i = first + k;
        if lines {
            let c = COLOURS[i % COLOURS.len()];
            let _ = write!(
                out,
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{c}\" stroke-width=\"2.5\" stroke-dasharray=\"{}\"/>",
                y - 4.0,
                x + 22.0,
                y - 4.0,
                DASHES[i % DASHES.len()]
            );
            marker(out, i, x + 11.0, y - 4.0);
            x += 26.0;
        } else {
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"12\" fill=\"url(#{id}-p{i})\" stroke=\"#333\" stroke-width=\".5\"/>",
                y - 10.0
            );
            x += 18.0;
        }
        let label = escape(name);
        let _ = write!(out, "<text class=\"legend\" x=\"{x}\" y=\"{y}\">{label}</text>");
        x += 14.0 * name.chars().count().max(2) as f64 + 14.0;
    }
}

/// A point's marker: a larger circle, a square, a triangle (where two rates coincide, the circle
/// still shows round the square).
fn marker(out: &mut String, i: usize, x: f64, y: f64) {
    let c = COLOURS[i % COLOURS.len()];
    let _ = match i % 3 {
        0 => write!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{c}\"/>"),
        1 => write!(out, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{c}\"/>", x - 3.5, y - 3.5),
        _ => write!(out, "<path d=\"M{x:.1},{:.1} l4,7 h-8 z\" fill=\"{c}\"/>", y - 4.5),
    };
}

/// Horizontal bars, one per row (e.g. overdue by unit): each label left, the bar, its value.
/// The longest bar is the largest value; a zero draws no bar but keeps its label and value.
pub fn bar_chart(id: &str, title: &str, rows: &[(String, f64)], suffix: &str) -> String {
    let (row_h, top, label_w, value_w) = (30.0, 8.0, 200.0, 64.0);
    let suffix = escape(suffix);
    let height = top * 2.0 + row_h * rows.len().max(1) as f64;
    let mut out = String::new();
    open(&mut out, id, title, height);
    patterns(&mut out, id, 1);
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let span = WIDTH - label_w - value_w - 8.0;
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let label = escape(name);
        let _ = write!(out, "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>", label_w - 6.0, y + 20.0);
        let w = if max > 0.0 { span * v / max } else { 0.0 };
        if *v > 0.0 {
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"url(#{id}-p0)\"><title>{label}: {}{suffix}</title></rect>",
                y + 4.0,
                row_h - 8.0,
                num(*v)
            );
        }
        let _ = write!(out, "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}{suffix}</text>", label_w + w + 4.0, y + 20.0, num(*v));
    }
    let _ = write!(out, "<line x1=\"{label_w}\" y1=\"{top}\" x2=\"{label_w}\" y2=\"{:.1}\" stroke=\"#555\"/>", height - top);
    out.push_str("</svg>");
    out
}

/// Monthly columns, each stacked from the series (e.g. volume by category): `series[s].1[m]` is
/// the value of series `s` in month `m`. The tallest column is the largest month total.
pub fn stacked_columns(id: &str, title: &str, months: &[String], series: &[(String, Vec<f64>)]) -> String {
    let (left, right, top, bottom, legend_h) = (40.0, 10.0, 16.0, 56.0, 24.0);
    let plot_h = 220.0;
    let height = top + plot_h + bottom + legend_h * series.len().div_ceil(4).max(1) as f64;
    let mut out = String::new();
    open(&mut out, id, title, height);
    patterns(&mut out, id, series.len());
    let totals: Vec<f64> = (0..months.len()).map(|m| series.iter().map(|s| s.1.get(m).copied().unwrap_or(0.0)).sum()).collect();
    let max = totals.iter().copied().fold(0.0_f64, f64::max);
    let axis = axis_of(max);
    let base = top + plot_h;
    axes(&mut out, left, right, top, plot_h, axis, num);
    let slot = (WIDTH - left - right) / months.len().max(1) as f64;
    for (m, month) in months.iter().enumerate() {
        let x = left + slot * m as f64 + slot * 0.15;
        let w = slot * 0.7;
        let mut y = base;
        for (s, (name, values)) in series.iter().enumerate() {
            let v = values.get(m).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = plot_h * v / axis;
            y -= h;
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"url(#{id}-p{s})\" stroke=\"#fff\" stroke-width=\".5\"><title>{} {}: {}</title></rect>",
                escape(month),
                escape(name),
                num(v)
            );
        }
        if totals[m] > 0.0 {
            let _ = write!(
                out,
                "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
                x + w / 2.0,
                y - 3.0,
                num(totals[m])
            );
        }
        month_label(&mut out, month, x + w / 2.0, base + 18.0);
    }
    let names: Vec<String> = series.iter().map(|s| s.0.clone()).collect();
    for (row, chunk) in names.chunks(4).enumerate() {
        legend(&mut out, id, chunk, row * 4, base + bottom + legend_h * row as f64, false);
    }
    out.push_str("</svg>");
    out
}

/// Lines of rates (0–1, drawn as 0–100 %) per month, up to three series (e.g. the 三率); a month
/// without a rate (`None`) breaks the line.
pub fn rate_lines(id: &str, title: &str, months: &[String], series: &[(String, Vec<Option<f64>>)]) -> String {
    let (left, right, top, bottom, legend_h) = (48.0, 10.0, 12.0, 56.0, 24.0);
    let plot_h = 200.0;
    let height = top + plot_h + bottom + legend_h;
    let mut out = String::new();
    open(&mut out, id, title, height);
    let base = top + plot_h;
    axes(&mut out, left, right, top, plot_h, 1.0, |v| format!("{:.0}%", v * 100.0));
    let slot = (WIDTH - left - right) / months.len().max(1) as f64;
    let x_of = |m: usize| left + slot * m as f64 + slot / 2.0;
    for (m, month) in months.iter().enumerate() {
        month_label(&mut out, month, x_of(m), base + 18.0);
    }
    for (s, (name, values)) in series.iter().take(3).enumerate() {
        let c = COLOURS[s % COLOURS.len()];
        let mut d = String::new();
        let mut pen_down = false;
        for (m, v) in values.iter().enumerate() {
            match v {
                Some(r) => {
                    let y = base - plot_h * r.clamp(0.0, 1.0);
                    let _ = write!(d, "{}{:.1},{y:.1} ", if pen_down { "L" } else { "M" }, x_of(m));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            out,
            "<path class=\"series\" d=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2.5\" stroke-dasharray=\"{}\"><title>{}</title></path>",
            d.trim_end(),
            DASHES[s % DASHES.len()],
            escape(name)
        );
        for (m, v) in values.iter().enumerate() {
            if let Some(r) = v {
                marker(&mut out, s, x_of(m), base - plot_h * r.clamp(0.0, 1.0));
            }
        }
    }
    let names: Vec<String> = series.iter().take(3).map(|s| s.0.clone()).collect();
    legend(&mut out, id, &names, 0, base + bottom + 4.0, true);
    out.push_str("</svg>");
    out
}

/// The top of a count axis: four steps of a round whole number (1, 2, 5 × 10ⁿ) reaching `max`,
/// so every grid line is a whole count.
fn axis_of(max: f64) -> f64 {
    let quarter = max / 4.0;
    if quarter <= 1.0 {
        return 4.0;
    }
    let p = 10f64.powf(quarter.log10().floor());
    4.0 * [1.0, 2.0, 5.0, 10.0].iter().map(|k| k * p).find(|v| *v >= quarter).unwrap_or(10.0 * p)
}

/// The value axis with four grid lines and their labels.
fn axes(out: &mut String, left: f64, right: f64, top: f64, plot_h: f64, axis: f64, label: impl Fn(f64) -> String) {
    for k in 0..=4 {
        let v = axis * k as f64 / 4.0;
        let y = top + plot_h - plot_h * k as f64 / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"13\">{}</text>",
            WIDTH - right,
            if k == 0 { "#555" } else { "#ddd" },
            left - 4.0,
            y + 4.0,
            escape(&label(v))
        );
    }
}

/// A month's label under its column: `10月` style is the page's business; here the `MM` of
/// `YYYY-MM` with the year shown at January and on the first column.
fn month_label(out: &mut String, month: &str, x: f64, y: f64) {
    let _ = write!(
        out,
        "<text class=\"month\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
        escape(month.get(5..).unwrap_or(month))
    );
    if month.ends_with("-01") || !out.contains("class=\"year\"") {
        let _ = write!(
            out,
            "<text class=\"year\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#555\">{}</text>",
            y + 16.0,
            escape(month.get(..4).unwrap_or(""))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widths(svg: &str) -> Vec<f64> {
        svg.split("<rect class=\"bar\"")
            .skip(1)
            .map(|r| r.split("width=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn bars_scale_to_the_largest_value_and_a_zero_keeps_its_label() {
        let rows = vec![("甲小区".to_string(), 4.0), ("乙小区".to_string(), 0.0), ("丙小区".to_string(), 2.0)];
        let svg = bar_chart("c1", "超期", &rows, "");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\"") && svg.contains("<title>超期</title>") && svg.contains("aria-label=\"超期\""));
        assert!(svg.contains("viewBox=\"0 0 640 ") && svg.contains("width=\"100%\""));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2, "no bar for the zero");
        assert!(svg.contains(">乙小区</text>"), "the zero keeps its label");
        let w = widths(&svg);
        let span = WIDTH - 200.0 - 64.0 - 8.0;
        assert!((w[0] - span).abs() < 0.1, "the longest bar is the max: {w:?}");
        assert!((w[1] - span / 2.0).abs() < 0.1, "half the value, half the bar: {w:?}");
    }

    #[test]
    fn all_zero_bars_draw_nothing_and_divide_by_nothing() {
        let svg = bar_chart("c", "t", &[("a".into(), 0.0)], "%");
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 0);
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn every_text_is_escaped() {
        let hostile = "<script>alert(1)</script>\"&'".to_string();
        let svg = bar_chart("c", &hostile, &[(hostile.clone(), 1.0)], "<%>");
        let cols = stacked_columns("d", &hostile, &["2026-10".into()], &[(hostile.clone(), vec![3.0])]);
        let lines = rate_lines("e", &hostile, &["2026-10".into()], &[(hostile.clone(), vec![Some(0.5)])]);
        for s in [svg, cols, lines] {
            assert!(!s.contains("<script>") && !s.contains("\"&'"), "{s}");
            assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#39;"), "{s}");
        }
    }

    #[test]
    fn columns_stack_the_series_and_the_tallest_is_the_largest_total() {
        let months: Vec<String> = vec!["2026-09".into(), "2026-10".into()];
        let series = vec![("物业服务".to_string(), vec![2.0, 0.0]), ("噪音扰民".to_string(), vec![3.0, 1.0])];
        let svg = stacked_columns("v", "受理量", &months, &series);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3, "a zero draws no segment");
        assert_eq!(svg.matches("<pattern ").count(), 2, "a pattern per series");
        assert!(svg.contains("url(#v-p0)") && svg.contains("url(#v-p1)"));
        assert!(svg.contains(">物业服务</text>") && svg.contains(">噪音扰民</text>"), "the legend names them");
        let heights: Vec<f64> = svg
            .split("<rect class=\"bar\"")
            .skip(1)
            .map(|r| r.split("height=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
            .collect();
        // Axis 8 (four steps of 2 reach the tallest, 5): 2 → 55, 3 → 82.5, 1 → 27.5 of 220.
        assert_eq!(heights, vec![55.0, 82.5, 27.5]);
        assert!(svg.contains(">8</text>") && svg.contains(">2</text>") && !svg.contains(".5</text>"), "whole counts on the axis");
    }

    #[test]
    fn lines_differ_in_dash_and_break_at_a_month_without_a_rate() {
        let months: Vec<String> = (1..=3).map(|m| format!("2026-{m:02}")).collect();
        let series = vec![
            ("响应率".to_string(), vec![Some(1.0), Some(0.5), Some(0.0)]),
            ("解决率".to_string(), vec![Some(0.8), None, Some(0.9)]),
            ("满意率".to_string(), vec![None, None, None]),
        ];
        let svg = rate_lines("t", "三率", &months, &series);
        assert_eq!(svg.matches("<path class=\"series\"").count(), 3);
        assert!(svg.contains("stroke-dasharray=\"8 4\"") && svg.contains("stroke-dasharray=\"2 3\""));
        let d: Vec<&str> = svg.split("<path class=\"series\" d=\"").skip(1).map(|p| p.split('"').next().unwrap()).collect();
        assert_eq!(d[0].matches('L').count(), 2);
        assert_eq!(d[1].matches('M').count(), 2, "the gap lifts the pen: {}", d[1]);
        assert!(d[0].starts_with("M") && d[0].contains(",12.0") && d[0].ends_with(",212.0"), "100% at the top, 0% at the base: {}", d[0]);
        assert!(svg.contains(">100%</text>") && svg.contains(">0%</text>"));
    }

    #[test]
    fn round_axes() {
        assert_eq!(axis_of(0.0), 4.0);
        assert_eq!(axis_of(1.0), 4.0);
        assert_eq!(axis_of(7.0), 8.0);
        assert_eq!(axis_of(12.0), 20.0);
        assert_eq!(axis_of(40.0), 40.0);
        assert_eq!(axis_of(41.0), 80.0);
    }
}
